//! `medhall judge`: the benchmark's GPT-4o judge on any OpenAI-compatible endpoint.
//!
//! The rules (messages, join, scheduling, wire format, rows) live in `medhall_core::judging`;
//! this file owns the files, the HTTP transport (one thread per concurrent request), the key
//! and the progress line. `--out` is append-only: each finished sample is one complete line,
//! written with one `write` call and flushed as its reply arrives, and a rerun skips every
//! sample already there. A crash, Ctrl-C or SIGKILL loses at most the replies still in flight.

use crate::score::{parse_file, parse_files, parse_split, report_issues};
use anyhow::{Context, Result, bail};
use clap::Args;
use medhall_core::dataset::{
    Issue, IssueKind, Prediction, ReferenceSet, Run, SourceContext, TypeMap,
};
use medhall_core::formats::ColumnMap;
use medhall_core::judge::parse_verdict;
use medhall_core::judging::messages::ChatMessage;
use medhall_core::judging::openai::{
    batch_request_line, chat_url, custom_id, parse_batch_output_line, parse_custom_id,
    parse_retry_after,
};
use medhall_core::judging::plan::{CHARS_PER_TOKEN, CostEstimate, JudgeItem, asks_again, plan};
use medhall_core::judging::provenance::{JudgeIdentity, resume_conflict};
use medhall_core::judging::rows::judged_line;
use medhall_core::judging::run::{Ending, Finished, JudgeRun, RunKind};
use medhall_core::judging::scheduler::{Next, SchedulerConfig};
use medhall_core::judging::types::{TypeRequest, parse_type_reply, type_line, type_requests};
use medhall_core::sample::{SampleKey, Split};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct JudgeArgs {
    /// Prediction files of one model run (the official JSONL; JSON arrays and CSV are read too).
    #[arg(value_name = "PRED")]
    files: Vec<PathBuf>,
    /// Reference shards: the ground truth (gpt4_answer) and the figure caption.
    #[arg(long = "references", value_name = "FILE")]
    references: Vec<PathBuf>,
    /// Calibration files: judge-eval JSONL (the benchmark uses LLaVA-Med-v1.5-7B's) whose answer
    /// and verdict for the same question go into the judge's second message.
    #[arg(long = "calibration", value_name = "FILE")]
    calibration: Vec<PathBuf>,
    /// Split of files whose name says neither positive nor negative.
    #[arg(long, value_name = "positive|negative", value_parser = parse_split)]
    split: Option<Split>,
    /// OpenAI-compatible base URL (`https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`);
    /// requests go to its `/chat/completions`.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The judge model (the benchmark's is gpt-4o).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Environment variable holding the API key (never an argument, never written anywhere).
    #[arg(
        long = "api-key-env",
        value_name = "VAR",
        default_value = "OPENAI_API_KEY"
    )]
    api_key_env: String,
    /// Send the API key to a plain http:// endpoint on another machine anyway, where anyone on
    /// the way can read it; without this such a run is refused before anything is sent.
    #[arg(long = "allow-cleartext-key")]
    allow_cleartext_key: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Attempts per sample before it is reported as failed.
    #[arg(long = "max-attempts", default_value_t = 5)]
    max_attempts: u32,
    /// Seconds to wait for one reply.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Judged output (JSONL, append-only; a rerun resumes it).
    #[arg(long, value_name = "JUDGED.jsonl")]
    out: Option<PathBuf>,
    /// Ask again for the samples whose verdict in --out is unreadable (the new line follows).
    #[arg(long = "retry-unreadable")]
    retry_unreadable: bool,
    /// Instead of judging: ask the endpoint for each negative question's hallucination type
    /// (our prompt, from the paper's definitions) and write a type map to --out (JSONL with
    /// `split, question_id, type, labelled_by`), which `medhall score --type-map` and the page
    /// read; such labels are marked as the model's wherever they are shown. Needs --references.
    #[arg(long = "label-types")]
    label_types: bool,
    /// Price per million prompt tokens, for the cost shown (e.g. 2.5 for gpt-4o).
    #[arg(long = "price-in", value_name = "USD")]
    price_in: Option<f64>,
    /// Price per million completion tokens (e.g. 10 for gpt-4o).
    #[arg(long = "price-out", value_name = "USD")]
    price_out: Option<f64>,
    /// Print the number of requests and a token estimate; send nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Write OpenAI Batch API request lines here instead of sending anything.
    #[arg(long = "batch-out", value_name = "REQUESTS.jsonl")]
    batch_out: Option<PathBuf>,
    /// A Batch API output file to turn into judged lines (with --batch-requests and --out).
    #[arg(long = "batch-in", value_name = "BATCH_OUTPUT.jsonl")]
    batch_in: Option<PathBuf>,
    /// The request file the batch ran (written by --batch-out).
    #[arg(long = "batch-requests", value_name = "REQUESTS.jsonl")]
    batch_requests: Option<PathBuf>,
}

pub fn run(args: &JudgeArgs) -> Result<()> {
    if let Some(batch_in) = &args.batch_in {
        return run_batch_in(args, batch_in);
    }
    if args.label_types {
        return run_label_types(args);
    }
    if args.files.is_empty() {
        bail!("name the prediction files to judge (PRED...)");
    }
    let (loaded, items) = load_and_plan(args)?;
    if items.is_empty() {
        bail!(
            "no sample can be judged: each needs a reference (--references), a question and a \
             calibration sample (--calibration)"
        );
    }
    if args.dry_run {
        print_estimate(&items, args);
        return Ok(());
    }
    if let Some(path) = &args.batch_out {
        let model = args
            .model
            .as_deref()
            .context("name the judge model with --model (the benchmark's is gpt-4o)")?;
        return write_batch(path, model, &items);
    }
    let out = args
        .out
        .as_deref()
        .context("name the judged output with --out JUDGED.jsonl")?;
    let (url, key, judge) = endpoint_of(args)?;
    let raw_rows = raw_rows(&loaded.run)?;
    let _lock = OutLock::acquire(out)?;
    let mut output = JudgedFile::open(out, args.retry_unreadable, &judge)?;
    let keys = items.iter().map(|item| item.key.clone()).collect();
    let mut run = JudgeRun::new(
        RunKind::Verdicts,
        judge.clone(),
        keys,
        scheduler_config(args),
    );
    let skipped = run.resume(|_, key| output.done.contains(key));
    if skipped > 0 {
        eprintln!(
            "{}: {skipped} of {} samples already judged there; not asked again",
            out.display(),
            items.len()
        );
    }
    let endpoint = Endpoint {
        url,
        key: key.as_deref(),
        prices: args.price_in.zip(args.price_out),
    };
    let mut task = JudgeTask {
        items: &items,
        run: &loaded.run,
        raw_rows: &raw_rows,
        judge: &judge,
        output: &mut output,
    };
    let transport = HttpTransport::new(run.config().concurrency);
    send_all(&endpoint, &mut run, &mut task, out, &transport)
}

fn scheduler_config(args: &JudgeArgs) -> SchedulerConfig {
    SchedulerConfig {
        concurrency: args.concurrency,
        max_attempts: args.max_attempts,
        timeout_ms: (args.timeout.max(0.001) * 1000.0) as u64,
        ..SchedulerConfig::default()
    }
}

/// The judge of this run: the model as sent and the endpoint's host (never its key).
fn judge_identity(model: &str, endpoint: &str) -> Result<JudgeIdentity> {
    let host = medhall_core::url_policy::Endpoint::parse(endpoint)
        .map_err(|refused| anyhow::anyhow!("--endpoint: {refused}"))?
        .host_label();
    Ok(JudgeIdentity::current(model, &host))
}

/// One writer per output file: an advisory lock on `OUT.lock`, held for the run (the operating
/// system releases it when the process ends, however it ends). The file says who holds it.
struct OutLock {
    _file: std::fs::File,
}

impl OutLock {
    fn acquire(out: &Path) -> Result<Self> {
        let mut name = out.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.to_owned()
                };
                bail!(
                    "{} is being written by another run ({holder}; lock {}): wait for it to                      end, or judge into another --out",
                    out.display(),
                    path.display()
                );
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let holder = format!(
            "medhall judge, process {}, since unix time {since}\n",
            std::process::id()
        );
        file.set_len(0)
            .and_then(|()| file.write_all(holder.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { _file: file })
    }
}

struct Loaded {
    run: Run,
    references: ReferenceSet,
    calibration: Run,
}

/// The files loaded and joined into judge items; what cannot be judged is reported.
fn load_and_plan(args: &JudgeArgs) -> Result<(Loaded, Vec<JudgeItem>)> {
    let mut issues = Vec::new();
    let loaded = load(args, &mut issues)?;
    let items = plan(
        &loaded.run,
        &loaded.references,
        &loaded.calibration,
        &mut issues,
    );
    report_issues(&issues);
    Ok((loaded, items))
}

fn load(args: &JudgeArgs, issues: &mut Vec<Issue>) -> Result<Loaded> {
    let columns = ColumnMap::default();
    let mut references = ReferenceSet::default();
    for path in &args.references {
        let source = SourceContext::new(path.display().to_string(), args.split);
        parse_file(path, &columns, issues, |record, issues| {
            references.add_record(&source, record, issues)
        })?;
    }
    let run = load_run(&args.files, &columns, args.split, issues)?;
    let calibration = load_run(&args.calibration, &columns, args.split, issues)?;
    Ok(Loaded {
        run,
        references,
        calibration,
    })
}

fn load_run(
    paths: &[PathBuf],
    columns: &ColumnMap,
    split: Option<Split>,
    issues: &mut Vec<Issue>,
) -> Result<Run> {
    let mut run = Run::default();
    for parsed in parse_files(paths, columns, split) {
        let (file_run, _, file_issues) = parsed?;
        issues.extend(file_issues);
        run.absorb(file_run, issues);
    }
    Ok(run)
}

fn print_estimate(items: &[JudgeItem], args: &JudgeArgs) {
    let estimate = CostEstimate::of(
        items
            .iter()
            .map(|item| (&item.messages[..], item.reply_chars() as u64)),
    );
    println!("requests: {}", estimate.requests);
    println!(
        "prompt tokens (estimate, {CHARS_PER_TOKEN} characters a token): {} ({} characters)",
        estimate.prompt_tokens(),
        estimate.prompt_chars
    );
    println!(
        "completion tokens (estimate from the calibration verdicts' length): {}",
        estimate.completion_tokens()
    );
    if let (Some(price_in), Some(price_out)) = (args.price_in, args.price_out) {
        println!(
            "cost (estimate): ${:.2} at ${price_in}/M prompt and ${price_out}/M completion tokens",
            estimate.cost(price_in, price_out)
        );
    }
    println!("nothing was sent");
}

fn write_batch(path: &Path, model: &str, items: &[JudgeItem]) -> Result<()> {
    let mut text = String::new();
    for item in items {
        text.push_str(&batch_request_line(&item.key, model, &item.messages));
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "{}: {} Batch API requests written; nothing was sent",
        path.display(),
        items.len()
    );
    Ok(())
}

/// The key from the named variable. A server on this machine (vLLM, Ollama, LM Studio) may
/// need none; a key goes over plain http:// to another machine only when allowed.
fn api_key(
    variable: &str,
    endpoint: &medhall_core::url_policy::Endpoint,
    allow_cleartext: bool,
) -> Result<Option<String>> {
    let key = match std::env::var(variable) {
        Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
        _ if endpoint.is_loopback() => return Ok(None),
        _ => bail!(
            "no API key: set the environment variable {variable} (or name another with \
             --api-key-env); keys are never taken as arguments"
        ),
    };
    if endpoint.sends_cleartext() && !allow_cleartext {
        bail!(
            "refusing to send the key in {variable} in cleartext to {} (plain http:// to \
             another machine, readable on the way): use https://, or pass \
             --allow-cleartext-key to send it anyway",
            endpoint.host_label()
        );
    }
    Ok(Some(key))
}

/// Each JSONL prediction's own line, by (file, line), so the judged row keeps it as written.
fn raw_rows(run: &Run) -> Result<HashMap<(String, u64), String>> {
    let mut wanted: HashMap<&str, HashSet<u64>> = HashMap::new();
    for prediction in run.predictions() {
        wanted
            .entry(&prediction.source)
            .or_default()
            .insert(prediction.line);
    }
    let mut rows = HashMap::new();
    for (source, lines) in wanted {
        let bytes = std::fs::read(source).with_context(|| format!("cannot read {source} again"))?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        for (index, line) in text.split('\n').enumerate() {
            let number = index as u64 + 1;
            if lines.contains(&number) {
                let line = line.strip_suffix('\r').unwrap_or(line).trim();
                if line.starts_with('{') && line.ends_with('}') {
                    rows.insert((source.to_owned(), number), line.to_owned());
                }
            }
        }
    }
    Ok(rows)
}

/// The append-only judged file and the samples already in it.
struct JudgedFile {
    path: PathBuf,
    file: std::fs::File,
    done: HashSet<SampleKey>,
    lines: u64,
}

impl JudgedFile {
    /// Opens a judged file to resume it with `judge`'s verdicts; refused when another judge
    /// (or one the file does not name) wrote any of its verdicts.
    fn open(path: &Path, retry_unreadable: bool, judge: &JudgeIdentity) -> Result<Self> {
        let mut done = HashSet::new();
        let mut judges: Vec<(JudgeIdentity, SampleKey)> = Vec::new();
        let mut unnamed = None;
        let mut lines = 0;
        let mut needs_newline = false;
        if path.exists() {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            needs_newline = !bytes.is_empty() && !bytes.ends_with(b"\n");
            lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + u64::from(needs_newline);
            let mut issues = Vec::new();
            let source = SourceContext::new(path.display().to_string(), None);
            let mut unreadable = 0;
            parse_file(path, &ColumnMap::default(), &mut issues, |record, _| {
                let Some(question_id) = record.question_id.clone() else {
                    return;
                };
                let Some(split) = record.split.or(source.split) else {
                    return;
                };
                let readable = record
                    .judge_text
                    .as_deref()
                    .is_some_and(|text| parse_verdict(text).is_ok());
                let key = SampleKey { split, question_id };
                match JudgeIdentity::from_fields(&record.fields) {
                    Some(identity) if !judges.iter().any(|(known, _)| *known == identity) => {
                        judges.push((identity, key.clone()));
                    }
                    Some(_) => {}
                    None if record.judge_text.is_some() => {
                        unnamed.get_or_insert_with(|| key.clone());
                    }
                    None => {}
                }
                if !asks_again(true, readable, retry_unreadable) {
                    done.insert(key);
                } else if !done.contains(&key) {
                    unreadable += 1;
                }
            })?;
            if let Some(conflict) =
                resume_conflict(&path.display().to_string(), &judges, unnamed, judge)
            {
                bail!("{conflict}");
            }
            if retry_unreadable {
                eprintln!(
                    "{}: {unreadable} samples with an unreadable verdict will be asked again",
                    path.display()
                );
            }
            for issue in issues.iter().filter(|i| i.kind == IssueKind::Malformed) {
                eprintln!("  {issue} (kept as it is; that sample is asked again)");
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} to append", path.display()))?;
        if needs_newline {
            // A line cut by a crash stays as it is (reported above); ours start on a new line.
            file.write_all(b"\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            done,
            lines,
        })
    }

    /// Opens any JSONL file to append to (its contents were read by the caller).
    fn open_plain(path: &Path) -> Result<Self> {
        let existing = std::fs::read(path).unwrap_or_default();
        let needs_newline = !existing.is_empty() && !existing.ends_with(b"\n");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} to append", path.display()))?;
        if needs_newline {
            file.write_all(b"\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let lines =
            existing.iter().filter(|&&b| b == b'\n').count() as u64 + u64::from(needs_newline);
        Ok(Self {
            path: path.to_owned(),
            file,
            done: HashSet::new(),
            lines,
        })
    }

    /// Appends one complete line in one write and waits until it is on the disk: a paid reply
    /// survives a power cut as well as a crash.
    fn append(&mut self, line: &str) -> Result<u64> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.lines += 1;
        Ok(self.lines)
    }
}

/// A request for a transport thread.
struct Request {
    item: usize,
    body: String,
    timeout: Duration,
}

/// What came back: the status, `Retry-After` in ms and the body, or why nothing did.
type Answer = Result<(u16, Option<u64>, Vec<u8>), String>;
type Reply = (usize, Answer);

/// How a request reaches the endpoint (HTTP; tests put in their own).
trait Transport: Sync {
    fn send(&self, url: &str, key: Option<&str>, request: &Request) -> Answer;
}

/// HTTP with one pool of connections shared by the request threads.
struct HttpTransport {
    agent: ureq::Agent,
}

impl HttpTransport {
    fn new(threads: usize) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections_per_host(threads)
            .build()
            .into();
        Self { agent }
    }
}

impl Transport for HttpTransport {
    fn send(&self, url: &str, key: Option<&str>, request: &Request) -> Answer {
        send(&self.agent, url, key, request)
    }
}

/// A transport call that cannot take its thread down: a panic becomes a failed attempt (the
/// scheduler retries it, then gives up), so the run never waits for a reply that cannot come.
fn send_caught(
    transport: &dyn Transport,
    url: &str,
    key: Option<&str>,
    request: &Request,
) -> Answer {
    let call = std::panic::AssertUnwindSafe(|| transport.send(url, key, request));
    std::panic::catch_unwind(call).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(format!("the request failed inside medhall ({what})"))
    })
}

/// Where requests go.
struct Endpoint<'a> {
    url: String,
    key: Option<&'a str>,
    prices: Option<(f64, f64)>,
}

/// Replies larger than this are not a chat completion.
const MAX_REPLY_BYTES: u64 = 16 << 20;

fn send(agent: &ureq::Agent, url: &str, key: Option<&str>, request: &Request) -> Answer {
    let mut call = agent
        .post(url)
        .header("Content-Type", "application/json")
        .config()
        .timeout_global(Some(request.timeout))
        .build();
    if let Some(key) = key {
        call = call.header("Authorization", format!("Bearer {key}"));
    }
    match call.send(request.body.as_bytes()) {
        Ok(mut response) => {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after = parse_retry_after(
                header("retry-after").as_deref(),
                header("retry-after-ms").as_deref(),
            );
            let status = response.status().as_u16();
            match response
                .body_mut()
                .with_config()
                .limit(MAX_REPLY_BYTES)
                .read_to_vec()
            {
                Ok(body) => Ok((status, retry_after, body)),
                Err(error) => Err(transport_reason(&error, request.timeout)),
            }
        }
        Err(error) => Err(transport_reason(&error, request.timeout)),
    }
}

fn transport_reason(error: &ureq::Error, timeout: Duration) -> String {
    match error {
        ureq::Error::Timeout(_) => format!("no reply within {:.1} s", timeout.as_secs_f64()),
        other => format!("connection failed: {other}"),
    }
}

/// The progress line on stderr: redrawn in place on a terminal, every 10 s otherwise.
struct Printer {
    start: Instant,
    last_print: Instant,
    terminal: bool,
    prices: Option<(f64, f64)>,
}

impl Printer {
    fn new(prices: Option<(f64, f64)>) -> Self {
        let start = Instant::now();
        Self {
            start,
            last_print: start,
            terminal: std::io::stderr().is_terminal(),
            prices,
        }
    }

    fn line(&self, run: &JudgeRun) -> String {
        let progress = run.progress();
        let seconds = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = format!(" ({:.1}/s)", progress.kept_now as f64 / seconds);
        let mut line = progress.line(self.prices);
        // The rate goes after the count: `judged 3/8 (1.2/s) · …`.
        if let Some(at) = line.find(" · ") {
            line.insert_str(at, &rate);
        }
        line
    }

    /// Reports a reply that is kept although it cannot be read (it was paid for).
    fn kept_unreadable(&mut self, out: &Path, line: u64, key: &SampleKey, what: &str) {
        if self.terminal {
            eprintln!();
        }
        eprintln!(
            "{}:{line}: {} question {}: {what}; --retry-unreadable asks again",
            out.display(),
            key.split,
            key.question_id
        );
    }

    fn tick(&mut self, run: &JudgeRun, force: bool) {
        let every = if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(10)
        };
        if !force && self.last_print.elapsed() < every {
            return;
        }
        self.last_print = Instant::now();
        let line = self.line(run);
        if self.terminal {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }
}

/// What `send_all` needs from a kind of request (judge verdicts, type labels).
trait Task {
    /// The messages of item `index`.
    fn messages(&self, index: usize) -> &[ChatMessage];
    /// Writes a finished reply where it belongs (before the run counts it as done).
    fn keep(&mut self, finished: &Finished, printer: &mut Printer) -> Result<()>;
    /// Where item `index` comes from, for failure reports (`file:line: split question id`).
    fn describe(&self, index: usize) -> String;
}

/// Sends every pending item of `run` to the endpoint on its concurrency's threads, hands each
/// reply to `task.keep`, reports failures and the totals, and fails when any item is left.
fn send_all(
    endpoint: &Endpoint<'_>,
    run: &mut JudgeRun,
    task: &mut dyn Task,
    out: &Path,
    transport: &dyn Transport,
) -> Result<()> {
    let threads = run.config().concurrency;
    let (request_tx, request_rx) = mpsc::channel::<Request>();
    let request_rx = std::sync::Arc::new(std::sync::Mutex::new(request_rx));
    let (reply_tx, reply_rx) = mpsc::channel::<Reply>();
    let mut printer = Printer::new(endpoint.prices);
    let result = std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads {
            let request_rx = request_rx.clone();
            let reply_tx = reply_tx.clone();
            let url = endpoint.url.as_str();
            let key = endpoint.key;
            scope.spawn(move || {
                loop {
                    let request = match request_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(request) = request else { return };
                    let answer = send_caught(transport, url, key, &request);
                    if reply_tx.send((request.item, answer)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(reply_tx);
        let outcome = drive(run, task, &request_tx, &reply_rx, &mut printer);
        drop(request_tx);
        outcome
    });
    printer.tick(run, true);
    if printer.terminal {
        eprintln!();
    }
    result?;
    for (index, _, reason) in run.failures() {
        eprintln!("{}: not judged: {reason}", task.describe(index));
    }
    let progress = run.progress();
    eprintln!(
        "{}: {} written now, {} failed, {} not sent; tokens {} in / {} out",
        out.display(),
        progress.kept_now,
        progress.counts.failed,
        progress.counts.pending,
        progress.usage.prompt_tokens,
        progress.usage.completion_tokens
    );
    match run.ending() {
        Ending::Complete => Ok(()),
        ending => bail!("{} (rerun with the same --out)", ending.message()),
    }
}

fn drive(
    run: &mut JudgeRun,
    task: &mut dyn Task,
    requests: &mpsc::Sender<Request>,
    replies: &mpsc::Receiver<Reply>,
    printer: &mut Printer,
) -> Result<()> {
    let start = printer.start;
    let now = || start.elapsed().as_millis() as u64;
    loop {
        let wait = loop {
            match run.next(now()) {
                Next::Send(dispatch) => {
                    let request = Request {
                        item: dispatch.item,
                        body: run.request_body(task.messages(dispatch.item)),
                        timeout: Duration::from_millis(dispatch.timeout_ms),
                    };
                    requests
                        .send(request)
                        .map_err(|_| anyhow::anyhow!("the request threads stopped"))?;
                }
                Next::WaitUntil(at) => break Some(Duration::from_millis(at.saturating_sub(now()))),
                Next::WaitForReply => break None,
                Next::Done => return Ok(()),
            }
        };
        let tick = Duration::from_millis(250);
        let (index, answer) = match replies.recv_timeout(wait.unwrap_or(tick).min(tick)) {
            Ok(reply) => reply,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                printer.tick(run, false);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the request threads stopped"),
        };
        match answer {
            Err(reason) => run.no_response(index, reason, now()),
            Ok((status, retry_after, body)) => {
                if let Some(finished) = run.response(index, status, retry_after, &body, now()) {
                    task.keep(&finished, printer)?;
                    run.kept(&finished, now());
                }
            }
        }
        printer.tick(run, false);
    }
}

/// Judge verdicts: each reply becomes a judged row in `output`.
struct JudgeTask<'a> {
    items: &'a [JudgeItem],
    run: &'a Run,
    raw_rows: &'a HashMap<(String, u64), String>,
    judge: &'a JudgeIdentity,
    output: &'a mut JudgedFile,
}

impl Task for JudgeTask<'_> {
    fn messages(&self, index: usize) -> &[ChatMessage] {
        &self.items[index].messages
    }

    fn keep(&mut self, finished: &Finished, printer: &mut Printer) -> Result<()> {
        let item = &self.items[finished.item];
        let prediction: &Prediction = &self.run.predictions()[item.prediction];
        let raw = self
            .raw_rows
            .get(&(prediction.source.to_string(), prediction.line))
            .map(String::as_str);
        let line = judged_line(raw, prediction, item, &finished.reply, self.judge);
        let number = self.output.append(&line)?;
        if let Some(reason) = &finished.unreadable {
            let what = format!("unreadable verdict, kept ({reason})");
            printer.kept_unreadable(&self.output.path, number, &item.key, &what);
        }
        Ok(())
    }

    fn describe(&self, index: usize) -> String {
        let item = &self.items[index];
        let prediction = &self.run.predictions()[item.prediction];
        format!(
            "{}:{}: {} question {}",
            prediction.source, prediction.line, item.key.split, item.key.question_id
        )
    }
}

/// The chat URL, key and the judge they make (the endpoint parsed once).
fn endpoint_of(args: &JudgeArgs) -> Result<(String, Option<String>, JudgeIdentity)> {
    let model = args
        .model
        .as_deref()
        .context("name the model with --model (the benchmark's judge is gpt-4o)")?;
    let endpoint = args
        .endpoint
        .as_deref()
        .context("name an OpenAI-compatible endpoint with --endpoint URL")?;
    let parsed = medhall_core::url_policy::Endpoint::parse(endpoint)
        .map_err(|refused| anyhow::anyhow!("--endpoint: {refused}"))?;
    let key = api_key(&args.api_key_env, &parsed, args.allow_cleartext_key)?;
    let judge = JudgeIdentity::current(model, &parsed.host_label());
    Ok((chat_url(endpoint), key, judge))
}

/// Hallucination types: each reply becomes a type-map line.
struct TypeTask<'a> {
    items: &'a [TypeRequest],
    model: &'a str,
    output: &'a mut JudgedFile,
}

impl Task for TypeTask<'_> {
    fn messages(&self, index: usize) -> &[ChatMessage] {
        &self.items[index].messages
    }

    fn keep(&mut self, finished: &Finished, printer: &mut Printer) -> Result<()> {
        let item = &self.items[finished.item];
        let content = &finished.reply.content;
        let label = parse_type_reply(content);
        let number = self
            .output
            .append(&type_line(&item.key, label, self.model, content))?;
        if finished.unreadable.is_some() {
            let what = "the reply names no type, kept with type null";
            printer.kept_unreadable(&self.output.path, number, &item.key, what);
        }
        Ok(())
    }

    fn describe(&self, index: usize) -> String {
        let item = &self.items[index];
        format!(
            "{}:{}: {} question {}",
            item.source, item.line, item.key.split, item.key.question_id
        )
    }
}

/// The samples a type map already labels (with a type; with none too unless `retry`).
fn labelled_keys(path: &Path, retry: bool) -> Result<HashSet<SampleKey>> {
    let mut done = HashSet::new();
    if !path.exists() {
        return Ok(done);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    for (index, line) in text.lines().enumerate() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            if !line.trim().is_empty() {
                eprintln!(
                    "{}:{}: not a type-map line (kept as it is)",
                    path.display(),
                    index + 1
                );
            }
            continue;
        };
        let split = value["split"].as_str().and_then(Split::parse);
        let id = match &value["question_id"] {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        };
        if let (Some(split), Some(question_id)) = (split, id)
            && (value["type"].is_string() || !retry)
        {
            done.insert(SampleKey { split, question_id });
        }
    }
    Ok(done)
}

/// `--label-types`: the hallucination type of every negative question in the references.
fn run_label_types(args: &JudgeArgs) -> Result<()> {
    if args.references.is_empty() {
        bail!("--label-types needs the negative reference shards (--references FILE)");
    }
    let mut issues = Vec::new();
    let mut references = ReferenceSet::default();
    for path in &args.references {
        let source = SourceContext::new(path.display().to_string(), args.split);
        parse_file(
            path,
            &ColumnMap::default(),
            &mut issues,
            |record, issues| references.add_record(&source, record, issues),
        )?;
    }
    // Done means in --out (not a shard's own type): the type map written is complete.
    let items = type_requests(&references, &TypeMap::new(), &mut issues);
    report_issues(&issues);
    if items.is_empty() {
        bail!("no negative question to label in the given references");
    }
    if args.dry_run {
        let estimate = CostEstimate::of(items.iter().map(|item| (&item.messages[..], 0)));
        println!("requests: {}", estimate.requests);
        println!(
            "prompt tokens (estimate, {CHARS_PER_TOKEN} characters a token): {}",
            estimate.prompt_tokens()
        );
        println!("nothing was sent");
        return Ok(());
    }
    let out = args
        .out
        .as_deref()
        .context("name the type map to write with --out TYPES.jsonl")?;
    let (url, key, judge) = endpoint_of(args)?;
    let _lock = OutLock::acquire(out)?;
    let done = labelled_keys(out, args.retry_unreadable)?;
    let mut output = JudgedFile::open_plain(out)?;
    let keys = items.iter().map(|item| item.key.clone()).collect();
    let mut run = JudgeRun::new(
        RunKind::TypeLabels,
        judge.clone(),
        keys,
        scheduler_config(args),
    );
    let skipped = run.resume(|_, key| done.contains(key));
    if skipped > 0 {
        eprintln!(
            "{}: {skipped} questions already labelled there; not asked again",
            out.display()
        );
    }
    let endpoint = Endpoint {
        url,
        key: key.as_deref(),
        prices: args.price_in.zip(args.price_out),
    };
    let mut task = TypeTask {
        items: &items,
        model: &judge.model,
        output: &mut output,
    };
    let transport = HttpTransport::new(run.config().concurrency);
    send_all(&endpoint, &mut run, &mut task, out, &transport)
}

/// `--batch-in`: a Batch API output file, with the requests it ran, into judged lines. Each
/// reply joins its request by `custom_id`, and the request to the prediction files given (the
/// same files, references and calibration `--batch-out` read): the judged line is the
/// prediction's own row, as `medhall judge` writes it, and a request whose messages differ from
/// what those files give now is left out rather than written under the wrong row.
fn run_batch_in(args: &JudgeArgs, batch_in: &Path) -> Result<()> {
    let requests_path = args
        .batch_requests
        .as_deref()
        .context("--batch-in needs --batch-requests REQUESTS.jsonl (the file --batch-out wrote)")?;
    let out = args
        .out
        .as_deref()
        .context("--batch-in needs --out JUDGED.jsonl")?;
    if args.files.is_empty() {
        bail!(
            "--batch-in needs the prediction files the batch was made from (PRED..., with the \
             same --references and --calibration): the judged lines are their rows"
        );
    }
    let (loaded, items) = load_and_plan(args)?;
    let by_key: HashMap<&SampleKey, &JudgeItem> = items.iter().map(|i| (&i.key, i)).collect();
    let requests = read_batch_requests(requests_path)?;
    let mut models: Vec<&str> = requests.values().map(|r| r.model.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    let model = match models.as_slice() {
        [one] => *one,
        [] => bail!("{} holds no request", requests_path.display()),
        several => bail!(
            "{} asks several judge models ({}): read each model's batch into its own --out",
            requests_path.display(),
            several.join(", ")
        ),
    };
    // The Batch API is OpenAI's unless --endpoint names the service that ran it.
    let judge = match args.endpoint.as_deref() {
        Some(endpoint) => judge_identity(model, endpoint)?,
        None => JudgeIdentity::current(model, "OpenAI Batch API"),
    };
    let raw_rows = raw_rows(&loaded.run)?;
    let _lock = OutLock::acquire(out)?;
    let mut output = JudgedFile::open(out, false, &judge)?;
    let text = std::fs::read_to_string(batch_in)
        .with_context(|| format!("cannot read {}", batch_in.display()))?;
    let (mut written, mut skipped, mut errors) = (0, 0, 0);
    let mut seen = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let where_ = format!("{}:{}", batch_in.display(), index + 1);
        if line.trim().is_empty() {
            continue;
        }
        let (id, result) = match parse_batch_output_line(line) {
            Ok(parsed) => parsed,
            Err(reason) => {
                eprintln!("{where_}: {reason}");
                errors += 1;
                continue;
            }
        };
        let Some(request) = requests.get(&id) else {
            eprintln!(
                "{where_}: custom_id {id:?} is not in {}",
                requests_path.display()
            );
            errors += 1;
            continue;
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(reason) => {
                eprintln!("{where_}: {id}: left out: {reason}");
                errors += 1;
                continue;
            }
        };
        if output.done.contains(&request.key) || !seen.insert(request.key.clone()) {
            skipped += 1;
            continue;
        }
        let Some(item) = by_key.get(&request.key) else {
            eprintln!(
                "{where_}: {id}: left out: no prediction with a reference and a calibration \
                 sample for it in the files given"
            );
            errors += 1;
            continue;
        };
        if item.messages != request.messages {
            eprintln!(
                "{where_}: {id}: left out: the request's messages differ from the ones these \
                 files give (were other prediction, reference or calibration files used?)"
            );
            errors += 1;
            continue;
        }
        let prediction: &Prediction = &loaded.run.predictions()[item.prediction];
        let raw = raw_rows
            .get(&(prediction.source.to_string(), prediction.line))
            .map(String::as_str);
        let number = output.append(&judged_line(raw, prediction, item, &reply, &judge))?;
        if let Some(reason) = reply.unreadable_reason() {
            eprintln!(
                "{}:{number}: {id}: unreadable verdict, kept ({reason})",
                out.display()
            );
        }
        written += 1;
    }
    eprintln!(
        "{}: {written} judged lines written, {skipped} already there, {errors} left out",
        out.display()
    );
    if errors > 0 {
        bail!("{errors} batch lines left out (listed above)");
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct BatchRequestLine {
    custom_id: String,
    body: BatchBody,
}

#[derive(serde::Deserialize)]
struct BatchBody {
    model: String,
    messages: Vec<ChatMessage>,
}

/// One request of a Batch API input file, by its custom_id.
struct BatchRequest {
    key: SampleKey,
    model: String,
    messages: Vec<ChatMessage>,
}

fn read_batch_requests(path: &Path) -> Result<HashMap<String, BatchRequest>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut requests = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = format!("{}:{}", path.display(), index + 1);
        let request: BatchRequestLine = serde_json::from_str(line)
            .with_context(|| format!("{where_}: not a Batch API request line"))?;
        let key = parse_custom_id(&request.custom_id).with_context(|| {
            format!(
                "{where_}: custom_id {:?} is not <split>:<question_id>",
                request.custom_id
            )
        })?;
        debug_assert_eq!(custom_id(&key), request.custom_id);
        requests.insert(
            request.custom_id,
            BatchRequest {
                key,
                model: request.body.model,
                messages: request.body.messages,
            },
        );
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request with a verdict, except item 0's, whose every attempt panics.
    struct PanicsOnFirst;

    impl Transport for PanicsOnFirst {
        fn send(&self, _url: &str, _key: Option<&str>, request: &Request) -> Answer {
            if request.item == 0 {
                panic!("injected transport failure");
            }
            let body = br#"{"choices":[{"message":{"content":"7 7 7 7\nok"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
            Ok((200, None, body.to_vec()))
        }
    }

    /// Keeps what it is given.
    struct Kept {
        messages: Vec<ChatMessage>,
        kept: Vec<(usize, String)>,
    }

    impl Task for Kept {
        fn messages(&self, _index: usize) -> &[ChatMessage] {
            &self.messages
        }
        fn keep(&mut self, finished: &Finished, _: &mut Printer) -> Result<()> {
            self.kept
                .push((finished.item, finished.reply.content.clone()));
            Ok(())
        }
        fn describe(&self, index: usize) -> String {
            format!("item {index}")
        }
    }

    /// A transport thread that panics does not hang the run: the attempt fails, is retried up
    /// to the limit, and the run ends with every other reply kept.
    #[test]
    fn a_panicking_transport_ends_the_run_with_what_it_has() {
        let config = SchedulerConfig {
            concurrency: 2,
            max_attempts: 2,
            base_delay_ms: 1,
            max_delay_ms: 2,
            ..SchedulerConfig::default()
        };
        let keys = (0..4)
            .map(|i| SampleKey {
                split: Split::Positive,
                question_id: i.to_string(),
            })
            .collect();
        let judge = JudgeIdentity::current("m", "127.0.0.1:9");
        let mut run = JudgeRun::new(RunKind::Verdicts, judge, keys, config);
        let mut task = Kept {
            messages: Vec::new(),
            kept: Vec::new(),
        };
        let endpoint = Endpoint {
            url: "http://127.0.0.1:9/v1/chat/completions".into(),
            key: None,
            prices: None,
        };
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let result = send_all(
                    &endpoint,
                    &mut run,
                    &mut task,
                    Path::new("out.jsonl"),
                    &PanicsOnFirst,
                );
                let _ = done_tx.send(result.map_err(|e| e.to_string()));
            });
            let result = done_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the run ends instead of waiting for the lost reply");
            let error = result.expect_err("item 0 is not done");
            assert!(error.contains("1 samples not done"), "{error}");
        });
        let mut kept: Vec<usize> = task.kept.iter().map(|(i, _)| *i).collect();
        kept.sort_unstable();
        assert_eq!(kept, [1, 2, 3]);
        let failures: Vec<(usize, String)> = run
            .failures()
            .map(|(i, _, reason)| (i, reason.to_owned()))
            .collect();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, 0);
        assert!(
            failures[0].1.contains("injected transport failure"),
            "{failures:?}"
        );
    }
}
