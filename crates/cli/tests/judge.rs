//! `medhall judge` end to end: the messages against the benchmark's (all 2,238 real rows against
//! a Python rendering of protocol.json, and the 20 official samples byte for byte), and the runner
//! against a local OpenAI-compatible server that injects faults (429 with Retry-After, 500, slow
//! replies, dropped connections, malformed JSON, unreadable verdicts), a SIGKILL mid-run, the
//! Batch API round trip and the key's handling.
//!
//! `throughput_benchmark` (ignored; `bash scripts/bench_judge.sh` runs it) prints the time for
//! 200 samples at concurrency 32 against a server that answers in 1 s.

use medhall_reference_stack::{shared_data, skip_or_fail};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn medhall() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medhall"));
    for proxy in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(proxy);
    }
    command.env_remove("OPENAI_API_KEY");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("medhall runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medhall-judge-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The messages, on the real data.

#[test]
fn batch_requests_equal_the_benchmarks_messages_on_real_data() {
    let Some(data) = shared_data() else { return };
    let python = match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => "python3",
        _ => return skip_or_fail("python3 is not installed"),
    };
    let dir = temp_dir("real");
    let eval: Vec<PathBuf> = ["positive", "negative"]
        .iter()
        .map(|s| data.join(format!("llava-med-v1.5-7b.{s}.gpt4o-eval.jsonl")))
        .collect();
    let refs: Vec<PathBuf> = ["positive", "negative"]
        .iter()
        .map(|s| data.join(format!("val.{s}.references.jsonl")))
        .collect();
    let requests = dir.join("requests.jsonl");
    let mut command = medhall();
    command.arg("judge").args(&eval);
    for r in &refs {
        command.arg("--references").arg(r);
    }
    for c in &eval {
        command.arg("--calibration").arg(c);
    }
    let out = run(command
        .args(["--model", "gpt-4o", "--batch-out"])
        .arg(&requests));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out.stderr.is_empty() || !text(&out.stderr).contains("issues:"),
        "the real files join without an issue: {}",
        text(&out.stderr)
    );
    let ours: HashMap<String, Value> = read_jsonl(&requests)
        .into_iter()
        .map(|line| {
            assert_eq!(line["method"], "POST");
            assert_eq!(line["url"], "/v1/chat/completions");
            assert_eq!(line["body"]["model"], "gpt-4o");
            assert_eq!(
                line["body"].as_object().map(|o| o.len()),
                Some(2),
                "model and messages only, as agent.py sends"
            );
            let id = line["custom_id"].as_str().expect("custom_id").to_owned();
            (id, line["body"]["messages"].clone())
        })
        .collect();
    assert_eq!(ours.len(), 2238);

    let rendered = dir.join("python.jsonl");
    let script =
        medhall_reference_stack::workspace_root().join("scripts/judge_messages_reference.py");
    let mut command = Command::new(python);
    command
        .arg(&script)
        .arg(data.join("judge/protocol.json"))
        .arg(&rendered)
        .arg("--predictions")
        .args(&eval)
        .arg("--references")
        .args(&refs)
        .arg("--calibration")
        .args(&eval);
    let out = run(&mut command);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let theirs = read_jsonl(&rendered);
    assert_eq!(theirs.len(), 2238);
    let mut differing = Vec::new();
    for line in &theirs {
        let id = line["custom_id"].as_str().expect("custom_id");
        if ours.get(id) != Some(&line["messages"]) {
            differing.push(id.to_owned());
        }
    }
    assert!(
        differing.is_empty(),
        "{} of 2238 differ from Python's rendering, first {:?}",
        differing.len(),
        differing.first()
    );

    // The 20 messages the official code built, byte for byte (JSON strings compared decoded).
    let official = read_jsonl(&data.join("judge/messages.sample.jsonl"));
    assert_eq!(official.len(), 20);
    for sample in official {
        let id = format!(
            "{}:{}",
            sample["split"].as_str().expect("split"),
            sample["question_id"]
        );
        assert_eq!(ours.get(&id), Some(&sample["messages"]), "{id}");
    }
}

// ---------------------------------------------------------------------------------------------
// A local OpenAI-compatible server that injects faults.

#[derive(Clone, Debug)]
enum Behaviour {
    Ok,
    /// An HTTP status with an error body and, optionally, `Retry-After` seconds.
    Status(u16, Option<f64>),
    /// Wait this long, then answer normally (past the client's timeout, it has given up).
    Slow(Duration),
    /// Close the connection without a response.
    Drop,
    /// A 200 whose body is not JSON.
    BadJson,
    /// A 200 whose text's first line is not four numbers.
    Unreadable,
    /// A 200 with this text.
    Say(&'static str),
    /// A 200 whose message has `content: null` and a `refusal` (billed).
    Refuse,
    /// A 200 with a readable verdict whose `usage` lacks `completion_tokens`.
    PartialUsage,
    /// A 200 whose message has no content at all (billed).
    NoContent,
}

#[derive(Default)]
struct ServerLog {
    /// Each request's question and arrival, in order.
    requests: Vec<(String, Instant)>,
    authorization: HashSet<String>,
}

struct FakeOpenAi {
    port: u16,
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    log: Arc<Mutex<ServerLog>>,
}

impl FakeOpenAi {
    /// `plans` maps a question to what each of its attempts gets (then `Ok`); every answer
    /// takes `latency`.
    fn start(plans: HashMap<String, Vec<Behaviour>>, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let server = FakeOpenAi {
            port,
            stop: Arc::new(AtomicBool::new(false)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(Mutex::new(ServerLog::default())),
        };
        let plans = Arc::new(Mutex::new(plans));
        let (stop, in_flight, max, log) = (
            server.stop.clone(),
            server.in_flight.clone(),
            server.max_in_flight.clone(),
            server.log.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (plans, in_flight, max, log) =
                    (plans.clone(), in_flight.clone(), max.clone(), log.clone());
                std::thread::spawn(move || {
                    serve_connection(stream, &plans, latency, &in_flight, &max, &log)
                });
            }
        });
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn asked(&self) -> Vec<String> {
        let log = self.log.lock().expect("log");
        log.requests.iter().map(|(q, _)| q.clone()).collect()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn question_of(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let content = value["messages"][1]["content"].as_str().unwrap_or("");
    let after = content
        .split("[Question]: ")
        .nth(1)
        .or_else(|| content.split("Question: ").nth(1));
    after
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or("?")
        .to_owned()
}

fn respond(stream: &mut TcpStream, status: u16, extra: &str, body: &str) {
    let reason = if status == 200 { "OK" } else { "Error" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn completion(content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 40, "total_tokens": 1040}
    })
    .to_string()
}

/// Waits up to `wait`; true as soon as the client closes the connection.
fn client_hangs_up_within(stream: &TcpStream, wait: Duration) -> bool {
    let start = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut byte = [0u8; 1];
    while start.elapsed() < wait {
        match stream.peek(&mut byte) {
            Ok(0) => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// An HTTP request's head: its lines up to the blank one, without line ends; `None` when the
/// connection closes first.
fn read_head(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if line == "\r\n" {
            return Some(head);
        }
        head.push(line.trim_end().to_owned());
    }
}

fn serve_connection(
    stream: TcpStream,
    plans: &Mutex<HashMap<String, Vec<Behaviour>>>,
    latency: Duration,
    in_flight: &AtomicUsize,
    max: &AtomicUsize,
    log: &Mutex<ServerLog>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut authorization = None;
        let Some(head) = read_head(&mut reader) else {
            return;
        };
        for line in head.iter().skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                } else if name == "authorization" {
                    authorization = Some(value.trim().to_owned());
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let question = question_of(&String::from_utf8_lossy(&body));
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
        {
            let mut log = log.lock().expect("log");
            log.requests.push((question.clone(), Instant::now()));
            if let Some(value) = authorization {
                log.authorization.insert(value);
            }
        }
        let behaviour = {
            let mut plans = plans.lock().expect("plans");
            match plans.get_mut(&question) {
                Some(steps) if !steps.is_empty() => steps.remove(0),
                _ => Behaviour::Ok,
            }
        };
        std::thread::sleep(latency);
        let keep = match behaviour {
            Behaviour::Ok => {
                let reply = format!("7 8 6 9\nRationale for {question}");
                respond(&mut writer, 200, "", &completion(&reply));
                true
            }
            Behaviour::Slow(wait) => {
                // The request counts as in flight until the client hangs up or the reply goes.
                if !client_hangs_up_within(&writer, wait) {
                    respond(&mut writer, 200, "", &completion("7 8 6 9\nlate"));
                }
                false
            }
            Behaviour::Status(status, retry_after) => {
                let extra = retry_after
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default();
                let body = format!(r#"{{"error":{{"message":"injected {status}"}}}}"#);
                respond(&mut writer, status, &extra, &body);
                true
            }
            Behaviour::Drop => false,
            Behaviour::BadJson => {
                respond(&mut writer, 200, "", "{\"choices\": [tru");
                true
            }
            Behaviour::Unreadable => {
                respond(
                    &mut writer,
                    200,
                    "",
                    &completion("I cannot rate this answer."),
                );
                true
            }
            Behaviour::Say(content) => {
                respond(&mut writer, 200, "", &completion(content));
                true
            }
            Behaviour::Refuse => {
                let body = serde_json::json!({
                    "model": "judge-test-2026-01-01",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                        "refusal": format!("I won't rate {question}")}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 11, "total_tokens": 1011}
                });
                respond(&mut writer, 200, "", &body.to_string());
                true
            }
            Behaviour::PartialUsage => {
                let body = serde_json::json!({
                    "choices": [{"index": 0, "message": {"role": "assistant",
                        "content": format!("6 6 6 6\nPartial usage for {question}")}}],
                    "usage": {"prompt_tokens": 1000}
                });
                respond(&mut writer, 200, "", &body.to_string());
                true
            }
            Behaviour::NoContent => {
                let body = serde_json::json!({
                    "choices": [{"index": 0, "message": {"role": "assistant"}}],
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 3}
                });
                respond(&mut writer, 200, "", &body.to_string());
                true
            }
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if !keep {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small runs.

struct Fixture {
    dir: PathBuf,
    predictions: PathBuf,
    references: PathBuf,
    calibration: PathBuf,
}

fn question(i: usize) -> String {
    format!("Q{i}?")
}

/// `n` positive predictions with references and calibration samples.
fn fixture(tag: &str, n: usize) -> Fixture {
    let dir = temp_dir(tag);
    let mut predictions = String::new();
    let mut references = String::new();
    let mut calibration = String::new();
    for i in 0..n {
        predictions.push_str(&format!(
            "{{\"question_id\": {i}, \"image\": \"img{i}.jpg\", \"question\": \"{}\", \"answer\": \"Answer {i}\", \"note\": \"é\"}}\n",
            question(i)
        ));
        references.push_str(&format!(
            "{{\"question_id\": {i}, \"image\": \"img{i}.jpg\", \"text\": \"{}\\n<image>\", \"gpt4_answer\": \"Truth {i}\", \"fig_caption\": \"Caption {i}\"}}\n",
            question(i)
        ));
        calibration.push_str(&format!(
            "{{\"question_id\": {i}, \"question\": \"{}\", \"answer\": \"LLaVA {i}\", \"result\": \"5 5 5 5\\nCalibration {i}\"}}\n",
            question(i)
        ));
    }
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    };
    Fixture {
        predictions: write("model.positive.jsonl", &predictions),
        references: write("refs.positive.jsonl", &references),
        calibration: write("llava.positive.judge-eval.jsonl", &calibration),
        dir,
    }
}

impl Fixture {
    fn judge(&self, server: &FakeOpenAi, out: &Path, extra: &[&str]) -> Command {
        let mut command = medhall();
        command
            .arg("judge")
            .arg(&self.predictions)
            .arg("--references")
            .arg(&self.references)
            .arg("--calibration")
            .arg(&self.calibration)
            .args(["--model", "judge-test", "--endpoint", &server.endpoint()])
            .arg("--out")
            .arg(out)
            .args(extra);
        command
    }
}

/// The judged lines' question ids, with how often each appears.
fn judged_ids(out: &Path) -> HashMap<i64, usize> {
    let mut ids = HashMap::new();
    for line in read_jsonl(out) {
        let id = line["question_id"]
            .as_i64()
            .expect("an integer id, as written");
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

#[test]
fn faults_are_retried_and_every_sample_ends_once() {
    use Behaviour::*;
    let n = 24;
    let data = fixture("faults", n);
    let plans: HashMap<String, Vec<Behaviour>> = [
        (1, vec![Status(429, Some(1.0))]),
        (2, vec![Status(500, None), Status(503, None)]),
        (3, vec![Slow(Duration::from_millis(2500))]),
        (4, vec![Drop]),
        (5, vec![BadJson]),
        (6, vec![Unreadable]),
        (7, vec![Status(500, None); 3]),
        (8, vec![Status(400, None)]),
    ]
    .into_iter()
    .map(|(i, plan)| (question(i), plan))
    .collect();
    let server = FakeOpenAi::start(plans, Duration::from_millis(50));
    let out = data.dir.join("judged.jsonl");
    let result = run(data
        .judge(
            &server,
            &out,
            &[
                "--concurrency",
                "4",
                "--max-attempts",
                "3",
                "--timeout",
                "1",
            ],
        )
        .env("OPENAI_API_KEY", "sk-test-secret-123"));
    let stderr = text(&result.stderr);
    assert!(!result.status.success(), "two samples fail: {stderr}");
    assert!(
        server.max_in_flight.load(Ordering::SeqCst) <= 4,
        "the concurrency limit held: {}",
        server.max_in_flight.load(Ordering::SeqCst)
    );
    let ids = judged_ids(&out);
    for i in 0..n as i64 {
        let expected = usize::from(i != 7 && i != 8);
        assert_eq!(
            ids.get(&i).copied().unwrap_or(0),
            expected,
            "sample {i}: {stderr}"
        );
    }
    assert!(
        stderr.contains(
            "positive question 7: not judged: HTTP 500: injected 500 (gave up after 3 attempts)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("positive question 8: not judged: HTTP 400: injected 400"),
        "{stderr}"
    );
    assert!(
        stderr.contains("positive question 6: unreadable verdict, kept"),
        "{stderr}"
    );
    let asked = server.asked();
    let count = |i: usize| asked.iter().filter(|q| **q == question(i)).count();
    assert_eq!(count(1), 2);
    assert_eq!(count(2), 3);
    assert_eq!(count(3), 2, "timed out once, then answered");
    assert_eq!(count(4), 2);
    assert_eq!(count(5), 2);
    assert_eq!(
        count(6),
        1,
        "an unreadable verdict is paid for: not asked again"
    );
    assert_eq!(count(7), 3);
    assert_eq!(count(8), 1, "a refused request is not repeated");
    // Retry-After: 1 s between the 429 and the next attempt of the same sample.
    {
        let log = server.log.lock().expect("log");
        let times: Vec<Instant> = log
            .requests
            .iter()
            .filter(|(q, _)| *q == question(1))
            .map(|(_, t)| *t)
            .collect();
        assert!(
            times[1] - times[0] >= Duration::from_millis(950),
            "{:?}",
            times[1] - times[0]
        );
        assert_eq!(
            log.authorization,
            HashSet::from(["Bearer sk-test-secret-123".to_owned()])
        );
    }
    // The judged rows: the prediction line as written, then the judge's fields and the split.
    let rows = read_jsonl(&out);
    let row = rows
        .iter()
        .find(|r| r["question_id"] == 0)
        .expect("sample 0");
    let keys: Vec<&str> = row
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "question_id",
        "image",
        "question",
        "answer",
        "note",
        "gpt4_answer",
        "fig_caption",
        "reference_answers",
        "reference_scores",
        "result",
        "split",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert_eq!(row["note"], "é");
    assert_eq!(row["gpt4_answer"], "Truth 0");
    assert_eq!(row["fig_caption"], "Caption 0");
    assert_eq!(row["reference_answers"], "LLaVA 0");
    assert_eq!(row["reference_scores"], "5 5 5 5\nCalibration 0");
    assert_eq!(row["result"], "7 8 6 9\nRationale for Q0?");
    assert_eq!(row["split"], "positive");
    // The key is in no output.
    let written = std::fs::read_to_string(&out).expect("out");
    assert!(!written.contains("sk-test") && !stderr.contains("sk-test"));
    assert!(!text(&result.stdout).contains("sk-test"));

    // A rerun asks only for the two failed samples (8 is refused again; 7 now succeeds).
    let before = server.asked().len();
    let result = run(data
        .judge(&server, &out, &["--max-attempts", "1"])
        .env("OPENAI_API_KEY", "sk-test-secret-123"));
    let again: Vec<String> = server.asked()[before..].to_vec();
    let mut again_sorted = again.clone();
    again_sorted.sort();
    assert_eq!(
        again_sorted,
        [question(7), question(8)],
        "{}",
        text(&result.stderr)
    );
    assert!(text(&result.stderr).contains("22 of 24 samples already judged"));

    // --retry-unreadable asks again for sample 6 only.
    let before = server.asked().len();
    let _ = run(data
        .judge(&server, &out, &["--retry-unreadable"])
        .env("OPENAI_API_KEY", "sk-test-secret-123"));
    let again: Vec<String> = server.asked()[before..].to_vec();
    assert!(
        again.contains(&question(6)) && !again.contains(&question(0)),
        "{again:?}"
    );

    // The judged file is what `medhall score` reads; sample 6's second verdict replaces the
    // unreadable one.
    let per_sample = data.dir.join("per-sample.jsonl");
    let scored = run(medhall()
        .arg("score")
        .arg(&out)
        .arg("--per-sample")
        .arg(&per_sample));
    let stderr = text(&scored.stderr);
    assert!(scored.status.success(), "{stderr}");
    assert!(stderr.contains("1 reasked"), "{stderr}");
    assert!(!stderr.contains("duplicate"), "{stderr}");
    let lines = read_jsonl(&per_sample);
    assert_eq!(lines.len(), 24);
    assert!(
        lines.iter().all(|l| l["judge"]["clinical_accuracy"] == 7.0),
        "every sample has the readable verdict"
    );
}

/// Issue 27: a billed reply without a verdict (a refusal, no content, a usage without
/// `completion_tokens`) is kept and counted, never bought again unasked; every judged line names
/// its judge; resuming with another judge is refused naming both.
#[test]
fn paid_replies_are_kept_once_and_every_line_names_its_judge() {
    use Behaviour::*;
    let n = 6;
    let data = fixture("paid", n);
    let plans: HashMap<String, Vec<Behaviour>> = [
        (1, vec![Refuse]),
        (2, vec![PartialUsage]),
        (3, vec![NoContent]),
    ]
    .into_iter()
    .map(|(i, plan)| (question(i), plan))
    .collect();
    let server = FakeOpenAi::start(plans, Duration::from_millis(10));
    let out = data.dir.join("judged.jsonl");
    let result = run(&mut data.judge(&server, &out, &["--max-attempts", "5"]));
    let stderr = text(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    let asked = server.asked();
    for i in 0..n {
        let count = asked.iter().filter(|q| **q == question(i)).count();
        assert_eq!(count, 1, "sample {i} asked once: {asked:?}");
    }
    // Tokens: 6 prompts of 1000; completions 40 × 3 (plain replies) + 11 + 0 + 3.
    assert!(
        stderr.contains("tokens 6000 in / 134 out"),
        "every reply's tokens counted: {stderr}"
    );
    assert!(
        stderr.contains(
            "positive question 1: unreadable verdict, kept (the model refused: I won't rate Q1?)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("positive question 3: unreadable verdict, kept (the reply has no text)"),
        "{stderr}"
    );
    let rows = read_jsonl(&out);
    assert_eq!(rows.len(), n);
    let host = format!("127.0.0.1:{}", server.port);
    for row in &rows {
        assert_eq!(row["judge_model"], "judge-test", "{row}");
        assert_eq!(row["judge_endpoint"], host.as_str(), "{row}");
        assert_eq!(row["judge_params"], "api-defaults");
        assert_eq!(row["judge_protocol"], "medhalltune-agent.py/1");
    }
    let row = |i: i64| rows.iter().find(|r| r["question_id"] == i).expect("a row");
    assert_eq!(row(1)["result"], "");
    assert_eq!(row(1)["judge_refusal"], "I won't rate Q1?");
    assert_eq!(row(1)["judge_reply_model"], "judge-test-2026-01-01");
    assert_eq!(row(2)["result"], "6 6 6 6\nPartial usage for Q2?");
    assert_eq!(row(3)["result"], "");

    // `medhall score` names the judge behind the columns.
    let scored = run(medhall().arg("score").arg(&out));
    let stdout = text(&scored.stdout);
    assert!(scored.status.success(), "{}", text(&scored.stderr));
    let label = format!("judge-test @ {host} (api-defaults, medhalltune-agent.py/1)");
    assert!(stdout.contains(&format!("judge: {label}")), "{stdout}");
    assert!(stdout.contains(&format!("judge_by:{label}")), "{stdout}");

    // Resuming with another model is refused, naming both judges, before anything is sent.
    let before = server.asked().len();
    let mut command = medhall();
    command
        .arg("judge")
        .arg(&data.predictions)
        .arg("--references")
        .arg(&data.references)
        .arg("--calibration")
        .arg(&data.calibration)
        .args(["--model", "other-judge", "--endpoint", &server.endpoint()])
        .arg("--out")
        .arg(&out)
        .arg("--retry-unreadable");
    let result = run(&mut command);
    let stderr = text(&result.stderr);
    assert!(!result.status.success(), "{stderr}");
    assert!(
        stderr.contains("judge-test @ 127.0.0.1") && stderr.contains("other-judge @ 127.0.0.1"),
        "both judges named: {stderr}"
    );
    assert!(stderr.contains("judge again into a new --out"), "{stderr}");
    assert_eq!(server.asked().len(), before, "nothing sent");
    assert_eq!(read_jsonl(&out).len(), n, "nothing written");

    // Only --retry-unreadable (same judge) asks for the two verdict-less replies again.
    let result = run(&mut data.judge(&server, &out, &["--retry-unreadable"]));
    assert!(result.status.success(), "{}", text(&result.stderr));
    let mut again: Vec<String> = server.asked()[before..].to_vec();
    again.sort();
    assert_eq!(again, [question(1), question(3)]);

    // An official judge-eval file (no judge fields) mixed with ours: score warns and the
    // signature says MIXED.
    let official = data.dir.join("official.negative.jsonl");
    std::fs::write(
        &official,
        "{\"question_id\": 1, \"answer\": \"a\", \"gpt4_answer\": \"b\", \"result\": \"5 5 5 5\\nok\"}\n",
    )
    .expect("write");
    let scored = run(medhall().arg("score").arg(&out).arg(&official));
    let stdout = text(&scored.stdout);
    let stderr = text(&scored.stderr);
    assert!(scored.status.success(), "{stderr}");
    assert!(
        stderr.contains("the judge columns mix 2 judges")
            && stderr.contains("gpt-4o (benchmark's files) (1 verdicts)"),
        "{stderr}"
    );
    assert!(stdout.contains(",MIXED"), "{stdout}");
}

/// Starts `medhall judge` in the background and returns once `out` holds `lines` samples
/// (or 20 s have passed).
fn spawn_until_judged(
    data: &Fixture,
    server: &FakeOpenAi,
    out: &Path,
    extra: &[&str],
    lines: usize,
) -> std::process::Child {
    let child = data
        .judge(server, out, extra)
        .stderr(Stdio::null())
        .spawn()
        .expect("medhall starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while judged_ids(out).len() < lines && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Issue 27: one writer per --out; the second run says who holds it and sends nothing.
#[test]
fn a_second_run_on_the_same_out_is_refused_while_the_first_runs() {
    let n = 30;
    let data = fixture("lock", n);
    let server = FakeOpenAi::start(HashMap::new(), Duration::from_millis(200));
    let out = data.dir.join("judged.jsonl");
    let mut first = spawn_until_judged(&data, &server, &out, &["--concurrency", "1"], 1);
    let second = run(&mut data.judge(&server, &out, &[]));
    let stderr = text(&second.stderr);
    let _ = first.kill();
    let _ = first.wait();
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "is being written by another run (medhall judge, process {}",
            first.id()
        )),
        "{stderr}"
    );
    // Once the first run has ended (here: killed), the lock is free again.
    let third = run(&mut data.judge(&server, &out, &[]));
    assert!(third.status.success(), "{}", text(&third.stderr));
    assert_eq!(judged_ids(&out).len(), n);
    assert!(judged_ids(&out).values().all(|&c| c == 1));
}

#[test]
fn sigkill_mid_run_then_rerun_gives_every_sample_once_and_asks_none_twice() {
    let n = 40;
    let data = fixture("kill", n);
    let server = FakeOpenAi::start(HashMap::new(), Duration::from_millis(100));
    let out = data.dir.join("judged.jsonl");
    // Wait for some lines, then kill without warning.
    let mut child = spawn_until_judged(&data, &server, &out, &["--concurrency", "2"], 6);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let written_first: HashSet<i64> = judged_ids(&out).into_keys().collect();
    assert!(
        (6..n as i64).contains(&(written_first.len() as i64)),
        "killed mid-run: {} lines",
        written_first.len()
    );
    let asked_before = server.asked().len();
    let result = run(&mut data.judge(&server, &out, &["--concurrency", "2"]));
    assert!(result.status.success(), "{}", text(&result.stderr));
    let ids = judged_ids(&out);
    assert_eq!(ids.len(), n);
    assert!(ids.values().all(|&count| count == 1), "{ids:?}");
    let asked_after: Vec<String> = server.asked()[asked_before..].to_vec();
    for id in &written_first {
        assert!(
            !asked_after.contains(&question(*id as usize)),
            "sample {id} was written before the kill and asked again"
        );
    }
}

#[test]
fn batch_api_round_trip() {
    let data = fixture("batch", 5);
    let requests = data.dir.join("requests.jsonl");
    let out = run(medhall()
        .arg("judge")
        .arg(&data.predictions)
        .arg("--references")
        .arg(&data.references)
        .arg("--calibration")
        .arg(&data.calibration)
        .args(["--model", "gpt-4o", "--batch-out"])
        .arg(&requests));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = read_jsonl(&requests);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[2]["custom_id"], "positive:2");
    // The batch's output: three replies, one error line, one request refused with 400.
    let reply = |id: &str, content: &str| {
        serde_json::json!({"id": "r", "custom_id": id, "error": null,
            "response": {"status_code": 200, "body": serde_json::from_str::<Value>(&completion(content)).expect("json")}})
        .to_string()
    };
    let batch_output = [
        reply("positive:0", "6 6 6 6\nzero"),
        reply("positive:1", "7 7 7 7\none"),
        serde_json::json!({"custom_id": "positive:2", "response": null, "error": {"code": "x", "message": "expired"}}).to_string(),
        serde_json::json!({"custom_id": "positive:3", "error": null, "response": {"status_code": 400, "body": {"error": {"message": "too long"}}}}).to_string(),
        reply("positive:4", "8 8 8 8\nfour"),
    ]
    .join("\n");
    let batch_path = data.dir.join("batch_output.jsonl");
    std::fs::write(&batch_path, batch_output).expect("write");
    let judged = data.dir.join("judged.jsonl");
    let batch_in = || {
        let mut command = medhall();
        command
            .arg("judge")
            .arg(&data.predictions)
            .arg("--references")
            .arg(&data.references)
            .arg("--calibration")
            .arg(&data.calibration)
            .arg("--batch-in")
            .arg(&batch_path)
            .arg("--batch-requests")
            .arg(&requests)
            .arg("--out")
            .arg(&judged);
        command
    };
    // Without the prediction files the rows cannot be rebuilt: refused.
    let out = run(medhall()
        .arg("judge")
        .arg("--batch-in")
        .arg(&batch_path)
        .arg("--batch-requests")
        .arg(&requests)
        .arg("--out")
        .arg(&judged));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--batch-in needs the prediction files"),
        "{}",
        text(&out.stderr)
    );
    // Sample 4's answer changed since the batch was made: its reply is not written under it.
    let predictions = std::fs::read_to_string(&data.predictions).expect("read");
    std::fs::write(
        &data.predictions,
        predictions.replace("\"Answer 4\"", "\"Answer 4, edited\""),
    )
    .expect("write");
    let out = run(&mut batch_in());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("positive:4: left out: the request's messages differ"),
        "{stderr}"
    );
    std::fs::write(&data.predictions, &predictions).expect("write");
    let out = run(&mut batch_in());
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "two lines are left out: {stderr}");
    assert!(
        stderr.contains("positive:2: left out: the batch reports an error: expired"),
        "{stderr}"
    );
    assert!(
        stderr.contains("positive:3: left out: HTTP 400: too long"),
        "{stderr}"
    );
    let rows = read_jsonl(&judged);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["question_id"], 0);
    // The prediction's own row, joined by custom_id: its image and other fields are kept.
    assert_eq!(rows[0]["image"], "img0.jpg");
    assert_eq!(rows[0]["note"], "é");
    assert_eq!(rows[0]["judge_model"], "gpt-4o");
    assert_eq!(rows[0]["judge_endpoint"], "OpenAI Batch API");
    assert_eq!(rows[0]["question"], "Q0?");
    assert_eq!(rows[0]["answer"], "Answer 0");
    assert_eq!(rows[0]["gpt4_answer"], "Truth 0");
    assert_eq!(rows[0]["fig_caption"], "Caption 0");
    assert_eq!(rows[0]["reference_scores"], "5 5 5 5\nCalibration 0");
    assert_eq!(rows[0]["result"], "6 6 6 6\nzero");
    assert_eq!(rows[2]["split"], "positive");
    // Reading the same batch output again adds nothing.
    let _ = run(&mut batch_in());
    assert_eq!(read_jsonl(&judged).len(), 3);
}

#[test]
fn gaps_keys_and_estimates() {
    let data = fixture("gaps", 3);
    // Sample 2 has no calibration sample: reported by file and line, the rest is planned.
    let calibration = std::fs::read_to_string(&data.calibration).expect("read");
    let two_lines: String = calibration
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&data.calibration, two_lines).expect("write");
    let out = run(medhall()
        .arg("judge")
        .arg(&data.predictions)
        .arg("--references")
        .arg(&data.references)
        .arg("--calibration")
        .arg(&data.calibration)
        .args(["--dry-run", "--price-in", "2.5", "--price-out", "10"]));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("requests: 2"), "{stdout}");
    assert!(stdout.contains("cost (estimate): $"), "{stdout}");
    assert!(stdout.contains("nothing was sent"));
    let predictions = data.predictions.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{predictions}:3: field `question_id`: no calibration sample"
        )),
        "{stderr}"
    );
    // A remote endpoint without a key is refused before anything is sent.
    let out = run(medhall()
        .arg("judge")
        .arg(&data.predictions)
        .arg("--references")
        .arg(&data.references)
        .arg("--calibration")
        .arg(&data.calibration)
        .args([
            "--model",
            "gpt-4o",
            "--endpoint",
            "https://api.example.invalid/v1",
            "--out",
        ])
        .arg(data.dir.join("never.jsonl")));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("set the environment variable OPENAI_API_KEY"));
    assert!(!data.dir.join("never.jsonl").exists(), "nothing written");
}

#[test]
fn label_types_writes_a_marked_resumable_type_map() {
    use Behaviour::*;
    let dir = temp_dir("types");
    let mut references = String::new();
    let mut predictions = String::new();
    for i in 0..6 {
        references.push_str(&format!(
            "{{\"question_id\": {i}, \"text\": \"{}\\n<image>\", \"gpt4_answer\": \"No: truth {i}\", \"fig_caption\": \"Caption {i}\"}}\n",
            question(i)
        ));
        predictions.push_str(&format!(
            "{{\"question_id\": {i}, \"question\": \"{}\", \"answer\": \"No: truth {i}\"}}\n",
            question(i)
        ));
    }
    let refs = dir.join("val.negative.references.jsonl");
    std::fs::write(&refs, references).expect("write");
    let positive = dir.join("val.positive.references.jsonl");
    std::fs::write(
        &positive,
        "{\"question_id\": 0, \"text\": \"P?\", \"gpt4_answer\": \"p\"}\n",
    )
    .expect("write");
    let plans: HashMap<String, Vec<Behaviour>> = [
        (0, vec![Say("Nonexistent object\nThere is no such device.")]),
        (1, vec![Say("**Object manipulation**")]),
        (2, vec![Say("3. knowledge distortion")]),
        (3, vec![Say("I am not sure.")]),
        (4, vec![Status(500, None), Say("nonexistent object")]),
        (5, vec![Say("object manipulation")]),
    ]
    .into_iter()
    .map(|(i, plan)| (question(i), plan))
    .collect();
    let server = FakeOpenAi::start(plans, Duration::from_millis(10));
    let types = dir.join("types.jsonl");
    let label = |extra: &[&str]| {
        let mut command = medhall();
        command
            .args(["judge", "--label-types", "--references"])
            .arg(&refs)
            .arg("--references")
            .arg(&positive)
            .args([
                "--model",
                "judge-test",
                "--endpoint",
                &server.endpoint(),
                "--out",
            ])
            .arg(&types)
            .args(extra);
        run(&mut command)
    };
    let result = label(&[]);
    let stderr = text(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains("negative question 3: the reply names no type, kept"),
        "{stderr}"
    );
    let lines = read_jsonl(&types);
    assert_eq!(lines.len(), 6, "negative questions only");
    let type_of = |id: i64| {
        lines
            .iter()
            .find(|l| l["question_id"] == id)
            .map(|l| l["type"].clone())
            .expect("labelled")
    };
    assert_eq!(type_of(0), "nonexistent object");
    assert_eq!(type_of(1), "object manipulation");
    assert_eq!(type_of(2), "knowledge distortion");
    assert_eq!(type_of(3), Value::Null);
    assert_eq!(type_of(4), "nonexistent object");
    assert!(
        lines
            .iter()
            .all(|l| l["labelled_by"] == "judge-test" && l["split"] == "negative")
    );
    assert_eq!(lines[0]["prompt"], "medhall-types-1");
    // Resumed: nothing asked again; with --retry-unreadable, only question 3.
    let before = server.asked().len();
    assert!(label(&[]).status.success());
    assert_eq!(server.asked().len(), before);
    assert!(label(&["--retry-unreadable"]).status.success());
    assert_eq!(server.asked()[before..], [question(3)]);
    // `medhall score --type-map` reads it, and the groups say who labelled them.
    let preds = dir.join("model.negative.jsonl");
    std::fs::write(&preds, predictions).expect("write");
    let scored = run(medhall()
        .arg("score")
        .arg("--references")
        .arg(&refs)
        .arg("--type-map")
        .arg(&types)
        .arg(&preds));
    let stdout = text(&scored.stdout);
    assert!(scored.status.success(), "{}", text(&scored.stderr));
    assert!(
        stdout.contains("negative/object manipulation (labelled by judge-test)"),
        "{stdout}"
    );
    assert!(stdout.contains("types:labelled_by=judge-test"), "{stdout}");
}

/// A CONNECT proxy (ureq speaks to one named by HTTP_PROXY) that tunnels every connection to
/// `target` on 127.0.0.1 and records each request line: medhall then sends to a name that is
/// not this machine (`judge.example.test`) and still reaches the fake server.
struct TunnelProxy {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

impl TunnelProxy {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(client) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || tunnel(client, target, &log));
            }
        });
        TunnelProxy { port, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("log").clone()
    }
}

fn tunnel(client: TcpStream, target: u16, log: &Mutex<Vec<String>>) {
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    log.lock().expect("log").extend(head.into_iter().next());
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    let (Ok(mut to_upstream), Ok(mut from_upstream)) = (upstream.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let mut to_client = client;
    if to_client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    // The reader hands on what it buffered past the head first.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut to_upstream));
    let _ = std::io::copy(&mut from_upstream, &mut to_client);
}

#[test]
fn a_key_goes_in_cleartext_to_another_machine_only_when_allowed() {
    let data = fixture("cleartext", 2);
    let server = FakeOpenAi::start(HashMap::new(), Duration::ZERO);
    let proxy = TunnelProxy::start(server.port);
    let judge = |endpoint: &str, out: &Path, extra: &[&str]| {
        let mut command = medhall();
        command
            .arg("judge")
            .arg(&data.predictions)
            .arg("--references")
            .arg(&data.references)
            .arg("--calibration")
            .arg(&data.calibration)
            .args(["--model", "judge-test", "--endpoint", endpoint])
            .arg("--out")
            .arg(out)
            .args(extra)
            .env("HTTP_PROXY", format!("http://127.0.0.1:{}", proxy.port))
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env("OPENAI_API_KEY", "sk-test-secret-123");
        command
    };
    // Plain http:// to another machine, in spellings that name this machine somewhere but go
    // elsewhere (user information, a port before `@`, upper case): refused before anything is
    // sent, naming the host and the flag, never the key.
    let refused_out = data.dir.join("refused.jsonl");
    for endpoint in [
        "http://judge.example.test/v1",
        "HTTP://JUDGE.EXAMPLE.TEST/v1",
        "http://127.0.0.1@judge.example.test/v1",
        "http://localhost:80@judge.example.test/v1",
    ] {
        let refused = run(&mut judge(endpoint, &refused_out, &[]));
        let stderr = text(&refused.stderr);
        assert!(!refused.status.success(), "{endpoint}: {stderr}");
        assert!(
            stderr.contains(
                "refusing to send the key in OPENAI_API_KEY in cleartext to judge.example.test"
            ) && stderr.contains("--allow-cleartext-key"),
            "{endpoint}: {stderr}"
        );
        assert!(!stderr.contains("sk-test"), "{stderr}");
    }
    assert_eq!(proxy.asked(), Vec::<String>::new(), "nothing was sent");
    assert!(server.asked().is_empty());
    assert!(!refused_out.exists(), "nothing written");

    // With the flag, the key goes (through the proxy, to the fake server).
    let out = data.dir.join("judged.jsonl");
    let allowed = run(&mut judge(
        "http://judge.example.test/v1",
        &out,
        &["--allow-cleartext-key"],
    ));
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    let asked = proxy.asked();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|line| line.starts_with("CONNECT judge.example.test:80 ")),
        "{asked:?}"
    );
    assert_eq!(judged_ids(&out).len(), 2);
    assert_eq!(
        server.log.lock().expect("log").authorization,
        HashSet::from(["Bearer sk-test-secret-123".to_owned()])
    );
}

/// 200 samples at concurrency 32 against a server that answers each request in 1 s.
#[test]
#[ignore = "a benchmark: bash scripts/bench_judge.sh"]
fn throughput_benchmark() {
    let n = 200;
    let concurrency = 32;
    let data = fixture("bench", n);
    let server = FakeOpenAi::start(HashMap::new(), Duration::from_secs(1));
    let out = data.dir.join("judged.jsonl");
    let start = Instant::now();
    let result = run(&mut data.judge(&server, &out, &["--concurrency", &concurrency.to_string()]));
    let seconds = start.elapsed().as_secs_f64();
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert_eq!(judged_ids(&out).len(), n);
    let ideal = (n as f64 / concurrency as f64).ceil();
    println!(
        "judge throughput: {n} samples, concurrency {concurrency}, 1 s per reply: {seconds:.2} s \
         ({:.1} samples/s); the bound for this concurrency is {ideal:.0} s ({:.2}x of it); \
         target under 10 s; max in flight seen by the server: {}",
        n as f64 / seconds,
        seconds / ideal,
        server.max_in_flight.load(Ordering::SeqCst)
    );
}
