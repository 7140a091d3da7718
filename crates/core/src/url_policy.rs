//! Which host a URL reaches, decided once, the way a browser decides it.
//!
//! Every decision the page and the CLI make about a URL's host goes through here: whether a
//! shared link's image base may be used without asking (only on the page's own origin), which
//! hosts `datasets.json` makes the page contact, whether a judge endpoint is a loopback server,
//! whether a key would cross the network in cleartext, and the host named to the user. URLs are
//! parsed by the `url` crate (the WHATWG URL Standard, as browsers parse them), never by
//! splitting strings: `/\evil.example/`, `https://evil.example\@page.host/` and a tab inside
//! `//` all reach evil.example in a browser, whatever a hand-written parser makes of them.

use std::net::{Ipv4Addr, Ipv6Addr};
use url::{Host, ParseError, Url};

/// Why a URL cannot be used. The given text is quoted with Rust's escapes, so a tab or a
/// newline inside it shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("{text:?} is not a URL ({reason})")]
    Invalid { text: String, reason: String },
    #[error("{text:?} is not an absolute URL: give it with https://")]
    Relative { text: String },
    #[error("{text:?} is a {scheme}: URL; only http:// and https:// URLs are allowed")]
    Scheme { text: String, scheme: String },
}

fn invalid(text: &str, error: ParseError) -> UrlRefused {
    UrlRefused::Invalid {
        text: text.to_owned(),
        reason: error.to_string(),
    }
}

/// `url` if it is http(s) (a special scheme: it always has a host).
fn web(text: &str, url: Url) -> Result<Url, UrlRefused> {
    match url.scheme() {
        "http" | "https" => Ok(url),
        scheme => Err(UrlRefused::Scheme {
            text: text.to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

/// `text` resolved against the page's URL, as a link or an `<img src>` on that page would be.
/// Only http(s) results are accepted.
fn resolve(page: &Url, text: &str) -> Result<Url, UrlRefused> {
    let url = page.join(text).map_err(|e| invalid(text, e))?;
    web(text, url)
}

/// The host and, when it is not the scheme's default, the port: what the user is shown as
/// where a request goes. Never the user information, path, query or fragment.
fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The label for the page's own origin, where a relative URL stays.
pub const PAGE_ORIGIN_LABEL: &str = "this page's own origin";

/// A user-given image base URL (`?images=` or the sample table's field), resolved against the
/// page. Opening a sample requests `base + image name` from it, which tells its host which
/// samples the user reads: only a base on the page's own origin is used without asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBase {
    url: Url,
    page_origin: bool,
}

impl ImageBase {
    /// Resolves `text` against `page` (the page's full URL); only http(s) bases are accepted.
    pub fn resolve(page: &str, text: &str) -> Result<ImageBase, UrlRefused> {
        let page = Url::parse(page).map_err(|e| invalid(page, e))?;
        let url = resolve(&page, text)?;
        // Tuple origins compare scheme, host and port; an opaque page origin (file:) equals
        // nothing, so every base there asks first.
        let page_origin = url.origin() == page.origin();
        Ok(ImageBase { url, page_origin })
    }

    /// Whether the base is on the page's own origin (used without a click).
    pub fn is_page_origin(&self) -> bool {
        self.page_origin
    }

    /// Where images would come from, for the confirmation: the host (and port), or the
    /// page's own origin.
    pub fn host_label(&self) -> String {
        if self.page_origin {
            PAGE_ORIGIN_LABEL.to_owned()
        } else {
            host_and_port(&self.url)
        }
    }

    /// The resolved base, absolute (a Web Worker resolves relative URLs against its script, so
    /// the page hands on this one).
    pub fn href(&self) -> &str {
        self.url.as_str()
    }

    /// The URL of the image `name` under the base, as the page has always formed it (the base
    /// followed by the name); `None` when the result would leave the base's origin.
    pub fn image_url(&self, name: &str) -> Option<String> {
        let joined = format!("{}{name}", self.url);
        let url = Url::parse(&joined).ok()?;
        (url.origin() == self.url.origin()).then(|| url.into())
    }
}

/// How a URL the user gives (a model folder, a shard) is named before anything is requested
/// from it: its host (and port), or the page's own origin; an unusable one says so.
pub fn destination_label(page: &str, text: &str) -> String {
    let resolved = Url::parse(page)
        .map_err(|e| invalid(page, e))
        .and_then(|page| Ok((resolve(&page, text)?, page)));
    match resolved {
        Ok((url, page)) if url.origin() == page.origin() => PAGE_ORIGIN_LABEL.to_owned(),
        Ok((url, _)) => host_and_port(&url),
        Err(UrlRefused::Scheme { scheme, .. }) => format!("nowhere (a {scheme}: URL)"),
        Err(_) => "nowhere (not a URL)".to_owned(),
    }
}

/// Where a URL listed in `datasets.json` (served beside the page) leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestDestination {
    /// Relative to the page: its own origin, wherever the site is put.
    PageOrigin,
    /// Another host (without the port), which `allowed_hosts` must list.
    Host(String),
}

/// Where `text`, a URL in `datasets.json`, leads. The manifest's own URL is not known here,
/// so relative URLs are resolved against a placeholder base: whether a relative reference
/// keeps the origin does not depend on which http(s) page it is resolved against. A URL that
/// names the placeholder itself parses as absolute and is reported as that host.
pub fn manifest_destination(text: &str) -> Result<ManifestDestination, UrlRefused> {
    let url = match Url::parse(text) {
        Ok(url) => web(text, url)?,
        Err(ParseError::RelativeUrlWithoutBase) => {
            let base = Url::parse("https://page.invalid/site/datasets.json")
                .map_err(|e| invalid(text, e))?;
            let url = resolve(&base, text)?;
            if url.origin() == base.origin() {
                return Ok(ManifestDestination::PageOrigin);
            }
            url
        }
        Err(error) => return Err(invalid(text, error)),
    };
    Ok(ManifestDestination::Host(
        url.host_str().unwrap_or_default().to_owned(),
    ))
}

/// `text` without what may be a secret: user information before the host, the query
/// (`?token=…`) and the fragment, as the browser reads the URL (so `https:\\u:p@h/` and a
/// tab inside the user information lose it too). Absolute URLs come back serialized
/// (`https://h/x`); a relative one that names a host (`//u:p@h/x`) as `//h/x`; a path relative
/// to the page as written, up to its query; one that cannot be parsed, which nothing can
/// request, as a placeholder.
pub fn redact(text: &str) -> String {
    let strip = |url: &mut Url| {
        // Errors mean there is no user information to remove (an opaque URL such as data:).
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
    };
    match Url::parse(text) {
        Ok(mut url) => {
            strip(&mut url);
            url.into()
        }
        Err(ParseError::RelativeUrlWithoutBase) => {
            let Ok(base) = Url::parse("https://page.invalid/") else {
                return String::new();
            };
            match base.join(text) {
                Ok(mut url) if url.origin() != base.origin() => {
                    strip(&mut url);
                    format!("//{}{}", host_and_port(&url), url.path())
                }
                // No authority: nothing before the path to remove.
                Ok(_) => text.split(['?', '#']).next().unwrap_or_default().to_owned(),
                Err(_) => "(not a URL)".to_owned(),
            }
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// An OpenAI-compatible endpoint: an absolute http(s) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, UrlRefused> {
        let url = match Url::parse(text.trim()) {
            Ok(url) => web(text, url)?,
            Err(ParseError::RelativeUrlWithoutBase) => {
                return Err(UrlRefused::Relative {
                    text: text.to_owned(),
                });
            }
            Err(error) => return Err(invalid(text, error)),
        };
        Ok(Endpoint { url })
    }

    /// A server on this machine: `localhost`, 127.0.0.0/8 (in any spelling the URL Standard
    /// reads as such, `0x7f.1` included), `[::1]` and IPv4-mapped loopback.
    pub fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(address)) => address.is_loopback(),
            Some(Host::Ipv6(address)) => is_ipv6_loopback(address),
            None => false,
        }
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// Whether a key sent there would cross the network readable by anyone on the way: plain
    /// http:// to a host other than this machine.
    pub fn sends_cleartext(&self) -> bool {
        !self.is_https() && !self.is_loopback()
    }

    /// Whether the page's Content-Security-Policy (index.html: `connect-src 'self' https:
    /// http://localhost:* http://127.0.0.1:*`) lets it send requests there.
    pub fn allowed_by_page_csp(&self) -> bool {
        self.is_https()
            || match self.url.host() {
                Some(Host::Domain(name)) => name == "localhost",
                Some(Host::Ipv4(address)) => address == Ipv4Addr::LOCALHOST,
                _ => false,
            }
    }

    /// The host and port to record or show: never a key, user information, path or query.
    pub fn host_label(&self) -> String {
        host_and_port(&self.url)
    }
}

fn is_ipv6_loopback(address: Ipv6Addr) -> bool {
    address.is_loopback() || address.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "https://lens.example.org/medhall/lens/?tab=samples";

    fn base(text: &str) -> ImageBase {
        ImageBase::resolve(PAGE, text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn hostile_image_bases_reach_evil_example_and_need_a_click() {
        // Each spelling passed the old hand-written host check (or named the page's host), yet
        // a browser requests it from evil.example.
        for text in [
            "/\\evil.example/",
            "https://evil.example\\@lens.example.org/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example/",
            "\\\\evil.example/",
            "//evil.example/",
            "https:/\\evil.example/",
            "HTTPS://EVIL.EXAMPLE/",
            "hTtPs://evil.example/",
            "https://%65vil.example/",
            "https://evil%2Eexample/",
            "https://lens.example.org@evil.example/",
            "https://lens.example.org:pw@evil.example/img/",
            " https://evil.example/ ",
            "https://ev\til.example/",
            "https://EVIL.example./",
        ] {
            let resolved = base(text);
            assert!(
                !resolved.is_page_origin(),
                "{text:?} -> {}",
                resolved.href()
            );
            let label = resolved.host_label();
            assert!(
                label == "evil.example" || label == "evil.example.",
                "{text:?}: {label}"
            );
        }
    }

    #[test]
    fn the_pages_own_origin_is_used_without_a_click() {
        for (text, href) in [
            ("images/", "https://lens.example.org/medhall/lens/images/"),
            ("./demo/", "https://lens.example.org/medhall/lens/demo/"),
            ("/abs/path/", "https://lens.example.org/abs/path/"),
            (
                "https://lens.example.org/img/",
                "https://lens.example.org/img/",
            ),
            (
                "HTTPS://LENS.EXAMPLE.ORG:443/img/",
                "https://lens.example.org/img/",
            ),
            ("//lens.example.org/x/", "https://lens.example.org/x/"),
            (
                "https://lens.example.org/a\\b/",
                "https://lens.example.org/a/b/",
            ),
            ("?x=", "https://lens.example.org/medhall/lens/?x="),
            // The page's own scheme without slashes is a path relative to the page.
            (
                "https:evil.example/",
                "https://lens.example.org/medhall/lens/evil.example/",
            ),
        ] {
            let resolved = base(text);
            assert!(resolved.is_page_origin(), "{text:?}");
            assert_eq!(resolved.href(), href, "{text:?}");
            assert_eq!(resolved.host_label(), PAGE_ORIGIN_LABEL);
        }
    }

    #[test]
    fn another_scheme_port_or_host_is_another_origin() {
        for (text, label) in [
            ("http://lens.example.org/img/", "lens.example.org"),
            (
                "https://lens.example.org:8443/img/",
                "lens.example.org:8443",
            ),
            ("https://sub.lens.example.org/", "sub.lens.example.org"),
            ("https://[::1]:8080/img/", "[::1]:8080"),
            ("https://[0:0:0:0:0:0:0:1]/", "[::1]"),
            ("https://127.0.0.1/", "127.0.0.1"),
            ("https://0x7f.1/", "127.0.0.1"),
            ("https://user:secret@cdn.example/img/", "cdn.example"),
            ("https://bücher.example/", "xn--bcher-kva.example"),
        ] {
            let resolved = base(text);
            assert!(!resolved.is_page_origin(), "{text:?}");
            assert_eq!(resolved.host_label(), label, "{text:?}");
            assert!(!resolved.host_label().contains("secret"));
        }
        // A page on an IPv6 literal and a port: the same spelled differently is the same origin.
        let page = "http://[::1]:8080/lens/";
        assert!(
            ImageBase::resolve(page, "http://[0::1]:8080/img/")
                .expect("valid")
                .is_page_origin()
        );
        assert!(
            !ImageBase::resolve(page, "http://[::1]:8081/img/")
                .expect("valid")
                .is_page_origin()
        );
        // A page opened from a file has an opaque origin: nothing counts as its own.
        assert!(
            !ImageBase::resolve("file:///home/u/dist/index.html", "images/")
                .map(|b| b.is_page_origin())
                .unwrap_or(false)
        );
    }

    #[test]
    fn other_schemes_and_broken_urls_are_refused() {
        for (text, scheme) in [
            ("data:image/png;base64,xx", "data"),
            ("javascript:alert(1)//", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("java\tscript:alert(1)", "javascript"),
            ("blob:https://lens.example.org/x", "blob"),
            ("ftp://evil.example/", "ftp"),
        ] {
            match ImageBase::resolve(PAGE, text) {
                Err(UrlRefused::Scheme { scheme: s, .. }) => assert_eq!(s, scheme, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        for text in [
            "https://",
            "https://[::1/",
            "https://evil example/",
            "http://a:99999/",
        ] {
            assert!(
                matches!(
                    ImageBase::resolve(PAGE, text),
                    Err(UrlRefused::Invalid { .. })
                ),
                "{text:?}"
            );
        }
        let error = ImageBase::resolve(PAGE, "javascript:x").expect_err("refused");
        assert!(error.to_string().contains("only http:// and https://"));
        // The message quotes the text with its control characters visible.
        let error = ImageBase::resolve(PAGE, "https://a b\t/").expect_err("refused");
        assert!(error.to_string().contains("\\t"), "{error}");
    }

    #[test]
    fn image_urls_stay_on_the_bases_origin() {
        let own = base("images/");
        assert_eq!(
            own.image_url("synpic123.jpg").as_deref(),
            Some("https://lens.example.org/medhall/lens/images/synpic123.jpg")
        );
        // A name cannot move the request elsewhere: the base's authority is closed by `/`.
        for name in ["//evil.example/x", "\\\\evil.example/x", "@evil.example/x"] {
            let url = own.image_url(name).expect("a URL");
            assert!(
                url.starts_with("https://lens.example.org/"),
                "{name}: {url}"
            );
        }
        let other = base("https://cdn.example:8443/img");
        assert_eq!(
            other.image_url("a.png").as_deref(),
            Some("https://cdn.example:8443/imga.png")
        );
        let bare = base("https://cdn.example");
        assert_eq!(
            bare.image_url("@evil.example/a.png").as_deref(),
            Some("https://cdn.example/@evil.example/a.png")
        );
    }

    #[test]
    fn destinations_are_labelled_for_the_user() {
        assert_eq!(destination_label(PAGE, "models/tiny/"), PAGE_ORIGIN_LABEL);
        assert_eq!(
            destination_label(PAGE, "https://huggingface.co/org/m/resolve/main/"),
            "huggingface.co"
        );
        assert_eq!(
            destination_label(PAGE, "https://token@evil.example:444/x"),
            "evil.example:444"
        );
        assert_eq!(destination_label(PAGE, "/\\evil.example/"), "evil.example");
        assert_eq!(
            destination_label(PAGE, "data:text/plain,x"),
            "nowhere (a data: URL)"
        );
        assert_eq!(destination_label(PAGE, "https://"), "nowhere (not a URL)");
    }

    #[test]
    fn manifest_urls_name_the_host_they_reach() {
        use ManifestDestination::*;
        let cases = [
            ("demo/x.jsonl", PageOrigin),
            ("./demo/x.jsonl", PageOrigin),
            ("/x.jsonl", PageOrigin),
            ("x.jsonl?v=1#a", PageOrigin),
            (
                "https://raw.githubusercontent.com/a/b.jsonl",
                Host("raw.githubusercontent.com".into()),
            ),
            ("http://u@h.org:8080/x?y", Host("h.org".into())),
            ("HTTPS://H.ORG/x", Host("h.org".into())),
            ("//evil.example/x.jsonl", Host("evil.example".into())),
            ("/\\evil.example/x.jsonl", Host("evil.example".into())),
            ("/\t/evil.example/x.jsonl", Host("evil.example".into())),
            (
                "https://evil.example\\@raw.githubusercontent.com/x",
                Host("evil.example".into()),
            ),
            // The placeholder base's own name, written out, is a host like any other.
            ("https://page.invalid/x", Host("page.invalid".into())),
            ("https://[::1]/x", Host("[::1]".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(manifest_destination(text), Ok(expected), "{text:?}");
        }
        assert!(matches!(
            manifest_destination("data:,x"),
            Err(UrlRefused::Scheme { .. })
        ));
        assert!(matches!(
            manifest_destination("https://[x/"),
            Err(UrlRefused::Invalid { .. })
        ));
    }

    #[test]
    fn redaction_removes_user_information_query_and_fragment_as_browsers_read_them() {
        for (text, redacted) in [
            (
                "https://host.example/data/x.jsonl?token=secret&x=1",
                "https://host.example/data/x.jsonl",
            ),
            ("https://host.example/x#a?b", "https://host.example/x"),
            (
                "https://user:p@ss@host.example:8443/a@b/x.jsonl?t=1",
                "https://host.example:8443/a@b/x.jsonl",
            ),
            ("https://user@host.example", "https://host.example/"),
            ("https:\\\\u:p@host.example\\x", "https://host.example/x"),
            (
                "https:/\t/u:secret@host.example/x",
                "https://host.example/x",
            ),
            (
                "https://u:sec\tret@host.example/x",
                "https://host.example/x",
            ),
            ("HTTPS://U:P@HOST.EXAMPLE/X", "https://host.example/X"),
            ("//u:p@host.example/x?t", "//host.example/x"),
            ("/\\u:p@host.example/x?t", "//host.example/x"),
            ("demo/demo.positive.jsonl?v=2", "demo/demo.positive.jsonl"),
            ("data:text/plain,x#frag", "data:text/plain,x"),
            ("", ""),
            ("https://u:secret@[bad/x", "(not a URL)"),
        ] {
            assert_eq!(redact(text), redacted, "{text:?}");
        }
    }

    fn endpoint(text: &str) -> Endpoint {
        Endpoint::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn loopback_endpoints_are_this_machine_only() {
        for text in [
            "http://localhost:11434/v1",
            "http://LOCALHOST/v1",
            "http://localhost./v1",
            "http://127.0.0.1:8000/v1",
            "http://127.1.2.3/v1",
            "http://0x7f.1/v1",
            "http://2130706433/v1",
            "http://[::1]:8000/v1",
            "http://[0:0:0:0:0:0:0:1]/v1",
            "http://[::ffff:127.0.0.1]/v1",
            "HTTP://127.0.0.1/v1",
            " http://127.0.0.1/v1 ",
            "https://localhost/v1",
        ] {
            let parsed = endpoint(text);
            // `localhost.` keeps its dot (a different name to the URL Standard).
            assert_eq!(
                parsed.is_loopback(),
                !text.contains("localhost."),
                "{text:?}"
            );
        }
        for text in [
            "http://localhost.example.org/v1",
            "http://localhost@evil.example/v1",
            "http://127.0.0.1@evil.example/v1",
            "http://evil.example\\@127.0.0.1/v1",
            "http://evil.example/127.0.0.1",
            "http://[::2]/v1",
            "http://128.0.0.1/v1",
            "http://0.0.0.0/v1",
            "http://10.0.0.1/v1",
            "http://evil.localhost.example/v1",
        ] {
            assert!(!endpoint(text).is_loopback(), "{text:?}");
        }
    }

    #[test]
    fn keys_travel_in_cleartext_only_over_remote_http() {
        assert!(endpoint("http://judge.example/v1").sends_cleartext());
        assert!(endpoint("HTTP://judge.example:8000/v1").sends_cleartext());
        assert!(endpoint("http://127.0.0.1@judge.example/v1").sends_cleartext());
        assert!(!endpoint("https://api.openai.com/v1").sends_cleartext());
        assert!(!endpoint("http://127.0.0.1:8000/v1").sends_cleartext());
        assert!(!endpoint("http://[::1]:8000/v1").sends_cleartext());
        assert!(!endpoint("http://localhost/v1").sends_cleartext());
        // A backslash ends the authority: this one goes to localhost, path `/@judge.example/v1`.
        assert!(!endpoint("http://localhost\\@judge.example/v1").sends_cleartext());
    }

    #[test]
    fn endpoints_must_be_absolute_http_urls() {
        assert!(matches!(
            Endpoint::parse("api.openai.com/v1"),
            Err(UrlRefused::Relative { .. })
        ));
        assert!(matches!(
            Endpoint::parse("//api.openai.com/v1"),
            Err(UrlRefused::Relative { .. })
        ));
        assert!(matches!(
            Endpoint::parse("ftp://localhost/v1"),
            Err(UrlRefused::Scheme { .. })
        ));
        assert!(matches!(
            Endpoint::parse("https://"),
            Err(UrlRefused::Invalid { .. })
        ));
    }

    #[test]
    fn the_pages_csp_allows_https_and_two_local_names() {
        for (text, allowed) in [
            ("https://api.openai.com/v1", true),
            (" http://localhost:11434/v1 ", true),
            ("http://127.0.0.1:8000/v1", true),
            ("http://127.0.0.1", true),
            ("http://0x7f.0.0.1/v1", true),
            ("http://example.org/v1", false),
            ("http://localhost.example.org/v1", false),
            ("http://localhost@evil.example/v1", false),
            ("http://evil.example\\@localhost/v1", false),
            ("http://127.0.0.2/v1", false),
            ("http://[::1]/v1", false),
        ] {
            assert_eq!(endpoint(text).allowed_by_page_csp(), allowed, "{text:?}");
        }
    }

    #[test]
    fn endpoint_hosts_never_carry_keys_or_user_information() {
        for (text, label) in [
            ("https://api.openai.com/v1", "api.openai.com"),
            ("https://API.OpenAI.com:443/v1", "api.openai.com"),
            ("https://sk-secret@api.example/v1?key=sk-2", "api.example"),
            (
                "https://user:sk-secret@api.example:8443/v1",
                "api.example:8443",
            ),
            ("http://[::1]:8000/v1", "[::1]:8000"),
            ("http://127.0.0.1:8000/v1#k", "127.0.0.1:8000"),
        ] {
            assert_eq!(endpoint(text).host_label(), label, "{text:?}");
        }
    }
}
