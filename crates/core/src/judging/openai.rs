//! The OpenAI chat-completions wire format, as text in and text out (the transport is the
//! caller's): request bodies, replies and their classification, and Batch API lines.
//!
//! agent.py sends `{model, messages}` and nothing else (API defaults for temperature and the
//! rest), so neither do we.

use super::messages::ChatMessage;
use super::scheduler::Outcome;
use crate::sample::{SampleKey, Split};
use serde::{Deserialize, Serialize};

/// The path a chat request goes to, below the endpoint's base URL (`…/v1`).
pub const CHAT_PATH: &str = "/chat/completions";
/// The Batch API's `url` for chat requests.
pub const BATCH_URL: &str = "/v1/chat/completions";

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
}

/// The JSON body of one chat request.
pub fn chat_request_body(model: &str, messages: &[ChatMessage]) -> String {
    // Serialising strings and a slice of plain structs cannot fail.
    serde_json::to_string(&ChatRequest { model, messages }).unwrap_or_default()
}

/// Joins an endpoint's base URL and the chat path (`https://api.openai.com/v1` →
/// `https://api.openai.com/v1/chat/completions`); a URL that already ends with the path is kept.
pub fn chat_url(endpoint: &str) -> String {
    let base = endpoint.trim().trim_end_matches('/');
    if base.ends_with(CHAT_PATH) {
        base.to_owned()
    } else {
        format!("{base}{CHAT_PATH}")
    }
}

/// Tokens the endpoint says it counted (the reply's `usage`). A count it leaves out (some
/// servers omit `completion_tokens`) is 0, and the rest of the reply is still read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }

    /// The cost at prices per million tokens.
    pub fn cost(&self, price_in: f64, price_out: f64) -> f64 {
        (self.prompt_tokens as f64 * price_in + self.completion_tokens as f64 * price_out) / 1e6
    }
}

/// A chat reply, always kept: it was paid for. `content` is the judge's whole text (empty when
/// the reply had none); a refusal or an empty text is an unreadable verdict, never a reason to
/// ask again unasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatReply {
    pub content: String,
    /// The model the reply names (`model`), e.g. the dated snapshot behind an alias.
    pub model: Option<String>,
    /// The model's refusal text, when it refused instead of answering.
    pub refusal: Option<String>,
    pub usage: Option<Usage>,
}

impl ChatReply {
    /// Why the reply is an unreadable verdict (no text, a refusal, or a first line that is not
    /// four scores), when it is one.
    pub fn unreadable_reason(&self) -> Option<String> {
        self.empty_reason().or_else(|| {
            crate::judge::parse_verdict(&self.content)
                .err()
                .map(|error| error.to_string())
        })
    }

    /// Why the reply holds no verdict text, when it holds none.
    pub fn empty_reason(&self) -> Option<String> {
        if !self.content.trim().is_empty() {
            return None;
        }
        Some(match &self.refusal {
            Some(refusal) => format!("the model refused: {}", shorten(refusal)),
            None => "the reply has no text".to_owned(),
        })
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    model: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: ReplyMessage,
}

#[derive(Deserialize, Default)]
struct ReplyMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

/// What a chat response means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Reply(ChatReply),
    /// No text to keep; how the scheduler should treat the attempt.
    Problem(Outcome),
}

fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A completion body as a reply, or why it is not a completion at all. A completion without
/// choices, content or usage counts is still a reply (the endpoint billed it): it is kept.
fn read_completion(body: &[u8]) -> Result<ChatReply, String> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|error| format!("the reply is not a chat completion ({error})"))?;
    let message = completion.choices.into_iter().next().map(|c| c.message);
    let (content, refusal) = match message {
        Some(message) => (message.content.unwrap_or_default(), message.refusal),
        None => (String::new(), None),
    };
    Ok(ChatReply {
        content,
        model: completion.model,
        refusal,
        usage: completion.usage,
    })
}

/// Classifies an HTTP response. `retry_after_ms` is the server's `Retry-After` (see
/// [`parse_retry_after`]). Error bodies are quoted, shortened, except for 401 and 403, whose
/// text may echo part of the key.
pub fn read_response(status: u16, retry_after_ms: Option<u64>, body: &[u8]) -> Response {
    if (200..300).contains(&status) {
        return match read_completion(body) {
            Ok(reply) => Response::Reply(reply),
            // Not a completion: no text came back to keep, so asking again loses nothing.
            Err(reason) => Response::Problem(Outcome::Retry {
                reason,
                retry_after_ms: None,
            }),
        };
    }
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|body| body.error.message)
        .map(|message| format!(": {}", shorten(&message)))
        .unwrap_or_default();
    let reason = format!("HTTP {status}{detail}");
    let outcome = match status {
        401 => Outcome::Abort {
            reason: "HTTP 401: the endpoint refused the API key".into(),
        },
        403 => Outcome::Abort {
            reason: "HTTP 403: the endpoint refused access (key, organisation or region)".into(),
        },
        404 => Outcome::Abort {
            reason: format!("{reason} (is the endpoint URL or the model name right?)"),
        },
        408 | 409 | 425 | 429 | 500..=599 => Outcome::Retry {
            reason,
            retry_after_ms,
        },
        _ => Outcome::Fail { reason },
    };
    Response::Problem(outcome)
}

/// A `Retry-After` (seconds, possibly fractional) or `retry-after-ms` header value in
/// milliseconds. HTTP dates are not read (the backoff applies instead).
pub fn parse_retry_after(seconds: Option<&str>, millis: Option<&str>) -> Option<u64> {
    let finite = |value: f64| (value.is_finite() && value >= 0.0).then_some(value);
    if let Some(ms) = millis
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(finite)
    {
        return Some(ms.ceil() as u64);
    }
    seconds
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(finite)
        .map(|s| (s * 1000.0).ceil() as u64)
}

/// A sample's Batch API `custom_id`: `<split>:<question_id>`.
pub fn custom_id(key: &SampleKey) -> String {
    format!("{}:{}", key.split, key.question_id)
}

pub fn parse_custom_id(id: &str) -> Option<SampleKey> {
    let (split, question_id) = id.split_once(':')?;
    Some(SampleKey {
        split: Split::parse(split)?,
        question_id: question_id.to_owned(),
    })
}

#[derive(Serialize)]
struct BatchRequest<'a> {
    custom_id: String,
    method: &'static str,
    url: &'static str,
    body: ChatRequest<'a>,
}

/// One line of a Batch API input file.
pub fn batch_request_line(key: &SampleKey, model: &str, messages: &[ChatMessage]) -> String {
    let request = BatchRequest {
        custom_id: custom_id(key),
        method: "POST",
        url: BATCH_URL,
        body: ChatRequest { model, messages },
    };
    serde_json::to_string(&request).unwrap_or_default()
}

#[derive(Deserialize)]
struct BatchOutputLine {
    custom_id: String,
    response: Option<BatchResponse>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct BatchResponse {
    status_code: u16,
    body: serde_json::Value,
}

/// One line of a Batch API output file: its custom_id, and the reply or why there is none.
pub fn parse_batch_output_line(line: &str) -> Result<(String, Result<ChatReply, String>), String> {
    let parsed: BatchOutputLine =
        serde_json::from_str(line).map_err(|error| format!("not a batch output line: {error}"))?;
    let id = parsed.custom_id;
    if let Some(error) = parsed.error.filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map(shorten)
            .unwrap_or_else(|| shorten(&error.to_string()));
        return Ok((id, Err(format!("the batch reports an error: {message}"))));
    }
    let Some(response) = parsed.response else {
        return Ok((
            id,
            Err("the batch line has neither a response nor an error".into()),
        ));
    };
    let body = serde_json::to_vec(&response.body).unwrap_or_default();
    let result = match read_response(response.status_code, None, &body) {
        Response::Reply(reply) => Ok(reply),
        Response::Problem(
            Outcome::Retry { reason, .. } | Outcome::Fail { reason } | Outcome::Abort { reason },
        ) => Err(reason),
        Response::Problem(Outcome::Finished) => Err("no reply".into()),
    };
    Ok((id, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_has_model_and_messages_only() {
        let messages = [ChatMessage {
            role: "user".into(),
            content: "a \"b\"\n".into(),
        }];
        assert_eq!(
            chat_request_body("gpt-4o", &messages),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"a \"b\"\n"}]}"#
        );
        assert_eq!(
            chat_url("http://127.0.0.1:8000/v1/"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(
            chat_url("https://x/v1/chat/completions"),
            "https://x/v1/chat/completions"
        );
    }

    #[test]
    fn responses_are_classified() {
        let ok = br#"{"choices":[{"message":{"role":"assistant","content":"7 8 6 9\nfine"}}],
                     "usage":{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050}}"#;
        assert_eq!(
            read_response(200, None, ok),
            Response::Reply(ChatReply {
                content: "7 8 6 9\nfine".into(),
                model: None,
                refusal: None,
                usage: Some(Usage {
                    prompt_tokens: 1000,
                    completion_tokens: 50
                })
            })
        );
        let retry = |status, body: &[u8]| match read_response(status, Some(1500), body) {
            Response::Problem(Outcome::Retry {
                retry_after_ms,
                reason,
            }) => (retry_after_ms, reason),
            other => panic!("{status}: {other:?}"),
        };
        assert!(retry(200, b"{not json").1.contains("not a chat completion"));
        assert_eq!(
            retry(429, br#"{"error":{"message":"slow down"}}"#),
            (Some(1500), "HTTP 429: slow down".to_owned())
        );
        assert_eq!(retry(503, b"").1, "HTTP 503");
        assert!(matches!(
            read_response(400, None, b"{}"),
            Response::Problem(Outcome::Fail { .. })
        ));
        let Response::Problem(Outcome::Abort { reason }) = read_response(
            401,
            None,
            br#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}"#,
        ) else {
            panic!("401 aborts")
        };
        assert!(!reason.contains("sk-"), "401 text is not echoed: {reason}");
    }

    /// Replies that were paid for but hold no verdict are replies, kept with their tokens.
    #[test]
    fn paid_replies_without_a_verdict_are_replies() {
        let reply = |body: &[u8]| match read_response(200, None, body) {
            Response::Reply(reply) => reply,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        };
        let refused = reply(
            br#"{"model":"gpt-4o-2024-08-06","choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}],
                 "usage":{"prompt_tokens":900,"completion_tokens":7}}"#,
        );
        assert_eq!(refused.content, "");
        assert_eq!(refused.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(refused.refusal.as_deref(), Some("I can't help with that."));
        assert_eq!(
            refused.usage,
            Some(Usage {
                prompt_tokens: 900,
                completion_tokens: 7
            })
        );
        assert_eq!(
            refused.empty_reason().as_deref(),
            Some("the model refused: I can't help with that.")
        );
        // usage without completion_tokens: the reply is read, the missing count is 0.
        let partial = reply(
            br#"{"choices":[{"message":{"content":"7 7 7 7\nok"}}],"usage":{"prompt_tokens":10}}"#,
        );
        assert_eq!(partial.content, "7 7 7 7\nok");
        assert_eq!(
            partial.usage,
            Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 0
            })
        );
        assert_eq!(partial.empty_reason(), None);
        // No content at all, no choices, a null usage: still replies, with no text.
        for body in [
            &br#"{"choices":[{"message":{"role":"assistant"}}],"usage":null}"#[..],
            br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":0}}"#,
            br#"{"choices":[{"message":{"content":"   "}}]}"#,
        ] {
            let empty = reply(body);
            assert_eq!(
                empty.empty_reason().as_deref(),
                Some("the reply has no text"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn retry_after_headers() {
        assert_eq!(parse_retry_after(Some("2"), None), Some(2000));
        assert_eq!(parse_retry_after(Some("0.25"), None), Some(250));
        assert_eq!(parse_retry_after(Some("1"), Some("120")), Some(120));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
            None
        );
        assert_eq!(parse_retry_after(Some("-1"), None), None);
    }

    #[test]
    fn batch_lines_round_trip_their_ids() {
        let key = SampleKey {
            split: Split::Negative,
            question_id: "12".into(),
        };
        let line = batch_request_line(&key, "gpt-4o", &[]);
        assert_eq!(
            line,
            r#"{"custom_id":"negative:12","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[]}}"#
        );
        assert_eq!(parse_custom_id("negative:12"), Some(key));
        assert_eq!(parse_custom_id("nope:1"), None);
        let output = r#"{"id":"b1","custom_id":"positive:3","response":{"status_code":200,"body":{"choices":[{"message":{"content":"5 5 5 5"}}]}},"error":null}"#;
        let (id, reply) = parse_batch_output_line(output).expect("a batch line");
        assert_eq!(id, "positive:3");
        assert_eq!(reply.map(|r| r.content), Ok("5 5 5 5".to_owned()));
        let failed = r#"{"custom_id":"positive:4","response":null,"error":{"code":"x","message":"expired"}}"#;
        assert_eq!(
            parse_batch_output_line(failed).map(|(_, r)| r),
            Ok(Err("the batch reports an error: expired".to_owned()))
        );
        assert!(parse_batch_output_line("[").is_err());
    }
}
