// Trunk post_build hook (see Trunk.toml): lets the page's Content-Security-Policy allow Trunk's
// inline scripts by their hashes instead of 'unsafe-inline'.
//
// Trunk 0.21 writes the app's loader as an inline <script type="module"> (and, under
// `trunk serve`, an inline autoreload script) and has no option to emit them as files. This hook
// reads the staged index.html, computes the sha256 of every inline script's text and adds
// 'sha256-…' sources to the CSP meta tag's script-src, so only those exact scripts run inline.
// It fails the build when the page has inline scripts but no CSP meta with a script-src, or when
// script-src still allows 'unsafe-inline' (hashes would make browsers ignore it; say what you
// mean instead).
//
// Usage: node scripts/csp_hashes.mjs [FILE]   (default: $TRUNK_STAGING_DIR/index.html)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The text of every <script> without a src attribute, as the browser hashes it. */
export function inlineScripts(html) {
  const scripts = [];
  const pattern = /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi;
  for (const [, attributes, text] of html.matchAll(pattern)) {
    if (/(^|\s)src\s*=/i.test(attributes)) continue;
    // The HTML parser turns CRLF and lone CR into LF before the script's text is hashed.
    scripts.push(text.replace(/\r\n?/g, '\n'));
  }
  return scripts;
}

export function sha256Source(text) {
  return `'sha256-${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** `html` with the inline scripts' hashes added to its CSP meta tag's script-src. */
export function addScriptHashes(html) {
  const hashes = [...new Set(inlineScripts(html).filter((t) => t.length > 0).map(sha256Source))];
  if (hashes.length === 0) return html;
  const meta = /(<meta\b[^>]*http-equiv\s*=\s*["']?Content-Security-Policy["']?[^>]*\bcontent\s*=\s*")([^"]*)(")/i;
  const found = html.match(meta);
  if (!found) throw new Error('index.html has inline scripts but no Content-Security-Policy meta tag (content="…")');
  let scriptSrc = false;
  const policy = found[2]
    .split(';')
    .map((directive) => {
      const words = directive.trim().split(/\s+/).filter(Boolean);
      if (words[0]?.toLowerCase() !== 'script-src') return directive.trim();
      scriptSrc = true;
      if (words.includes("'unsafe-inline'")) {
        throw new Error("script-src allows 'unsafe-inline': remove it, this hook adds the inline scripts' hashes");
      }
      return [...words, ...hashes.filter((h) => !words.includes(h))].join(' ');
    })
    .filter(Boolean)
    .join('; ');
  if (!scriptSrc) throw new Error('the Content-Security-Policy meta tag has no script-src directive');
  return html.replace(meta, (_, start, _policy, end) => `${start}${policy}${end}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? (process.env.TRUNK_STAGING_DIR && path.join(process.env.TRUNK_STAGING_DIR, 'index.html'));
  if (!file) {
    console.error('csp_hashes: no file given and TRUNK_STAGING_DIR is not set');
    process.exit(2);
  }
  try {
    const html = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, addScriptHashes(html));
  } catch (error) {
    console.error(`csp_hashes: ${file}: ${error.message}`);
    process.exit(1);
  }
}
