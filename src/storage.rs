//! Local persistence in IndexedDB: every dropped file (as the browser's own `Blob`, so nothing is
//! copied into wasm memory), every URL the user loaded, and the run names. A reload replays them
//! into the worker. Failures, storage-quota ones above all, come back as messages for the page.

use js_sys::{Array, Promise, Reflect};
use medhall_app::rating::RatingSheet;
use medhall_core::judging::provenance::{JudgeIdentity, SampleReply};
use medhall_core::sample::SampleKey;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode};

const DB_NAME: &str = "medhall-lens";
const STORE: &str = "items";

/// What one stored item restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stored {
    Run {
        run: u32,
        name: String,
        source: String,
        url: Option<String>,
    },
    Shard {
        source: String,
        url: Option<String>,
    },
    TypeMap {
        source: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredItem {
    pub id: String,
    /// Replay order (a timestamp).
    pub seq: f64,
    pub item: Stored,
}

fn describe(error: &JsValue) -> String {
    if let Some(exception) = error.dyn_ref::<web_sys::DomException>() {
        let name = exception.name();
        if name == "QuotaExceededError" {
            return "the browser's storage quota is full: this file is scored now but will not be \
                    restored after a reload (free space or clear local data)"
                .to_owned();
        }
        return format!("{name}: {}", exception.message());
    }
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

/// Resolves with the request's result once it succeeds.
async fn done(request: &IdbRequest) -> Result<JsValue, String> {
    let promise = Promise::new(&mut |resolve, reject| {
        let ok_request = request.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            let result = ok_request.result().unwrap_or(JsValue::UNDEFINED);
            let _ = resolve.call1(&JsValue::NULL, &result);
        });
        let error_request = request.clone();
        let on_error = Closure::once_into_js(move |_: web_sys::Event| {
            let error = error_request
                .error()
                .ok()
                .flatten()
                .map_or(JsValue::from_str("request failed"), JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(|e| describe(&e))
}

/// Resolves when a write transaction has committed (quota errors surface here, at commit).
async fn committed(transaction: &IdbTransaction) -> Result<(), String> {
    let promise = Promise::new(&mut |resolve, reject| {
        let on_complete = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let failed = transaction.clone();
        let on_abort = Closure::once_into_js(move |_: web_sys::Event| {
            let error = failed
                .error()
                .map_or(JsValue::from_str("the write was aborted"), JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        transaction.set_oncomplete(Some(on_complete.unchecked_ref()));
        transaction.set_onabort(Some(on_abort.unchecked_ref()));
    });
    JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

pub async fn open() -> Result<IdbDatabase, String> {
    open_database(
        DB_NAME,
        STORE,
        "this browser has no IndexedDB: nothing will be restored after a reload",
    )
    .await
}

/// Opens (creating on first use) database `name` with one object store keyed by `id`.
async fn open_database(
    name: &str,
    store_name: &'static str,
    missing: &'static str,
) -> Result<IdbDatabase, String> {
    let window = web_sys::window().ok_or("no window")?;
    let factory = window
        .indexed_db()
        .map_err(|e| describe(&e))?
        .ok_or(missing)?;
    let request = factory.open_with_u32(name, 1).map_err(|e| describe(&e))?;
    let upgrade = Closure::once_into_js({
        let request = request.clone();
        move |_: web_sys::Event| {
            if let Ok(result) = request.result() {
                let db: IdbDatabase = result.unchecked_into();
                let parameters = web_sys::IdbObjectStoreParameters::new();
                parameters.set_key_path(&JsValue::from_str("id"));
                let _ = db.create_object_store_with_optional_parameters(store_name, &parameters);
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    let db = done(&request).await?;
    Ok(db.unchecked_into())
}

fn store(
    db: &IdbDatabase,
    mode: IdbTransactionMode,
) -> Result<(IdbTransaction, web_sys::IdbObjectStore), String> {
    object_store(db, STORE, mode)
}

/// A transaction on one object store, and the store.
fn object_store(
    db: &IdbDatabase,
    name: &str,
    mode: IdbTransactionMode,
) -> Result<(IdbTransaction, web_sys::IdbObjectStore), String> {
    let transaction = db
        .transaction_with_str_and_mode(name, mode)
        .map_err(|e| describe(&e))?;
    let store = transaction.object_store(name).map_err(|e| describe(&e))?;
    Ok((transaction, store))
}

/// Saves an item, with its file when it came from a drop.
pub async fn put(db: &IdbDatabase, item: &StoredItem, file: Option<&File>) -> Result<(), String> {
    let meta = serde_json::to_string(item).map_err(|e| e.to_string())?;
    let record = js_sys::Object::new();
    let _ = Reflect::set(&record, &"id".into(), &JsValue::from_str(&item.id));
    let _ = Reflect::set(&record, &"meta".into(), &JsValue::from_str(&meta));
    if let Some(file) = file {
        let _ = Reflect::set(&record, &"file".into(), file);
    }
    let (transaction, store) = store(db, IdbTransactionMode::Readwrite)?;
    store.put(&record).map_err(|e| describe(&e))?;
    committed(&transaction).await
}

pub async fn delete(db: &IdbDatabase, id: &str) -> Result<(), String> {
    let (transaction, store) = store(db, IdbTransactionMode::Readwrite)?;
    store
        .delete(&JsValue::from_str(id))
        .map_err(|e| describe(&e))?;
    committed(&transaction).await
}

pub async fn clear(db: &IdbDatabase) -> Result<(), String> {
    let (transaction, store) = store(db, IdbTransactionMode::Readwrite)?;
    store.clear().map_err(|e| describe(&e))?;
    committed(&transaction).await
}

/// Everything stored, in replay order. Records that cannot be read are reported, not dropped
/// silently: their ids come back in the error list.
pub async fn all(
    db: &IdbDatabase,
) -> Result<(Vec<(StoredItem, Option<File>)>, Vec<String>), String> {
    let (_, store) = store(db, IdbTransactionMode::Readonly)?;
    let request = store.get_all().map_err(|e| describe(&e))?;
    let values: Array = done(&request).await?.unchecked_into();
    let mut items = Vec::new();
    let mut unreadable = Vec::new();
    for value in values.iter() {
        let meta = Reflect::get(&value, &"meta".into())
            .ok()
            .and_then(|m| m.as_string());
        let file = Reflect::get(&value, &"file".into())
            .ok()
            .and_then(|f| f.dyn_into::<File>().ok());
        match meta.map(|m| serde_json::from_str::<StoredItem>(&m)) {
            Some(Ok(item)) => items.push((item, file)),
            _ => unreadable.push(
                Reflect::get(&value, &"id".into())
                    .ok()
                    .and_then(|i| i.as_string())
                    .unwrap_or_default(),
            ),
        }
    }
    items.sort_by(|(a, _), (b, _)| a.seq.total_cmp(&b.seq));
    Ok((items, unreadable))
}

/// The judge's verdicts live in a database of their own, so the files' database and its
/// version stay as they were.
const VERDICT_DB: &str = "medhall-lens-judge";
const VERDICT_STORE: &str = "verdicts";

/// One judge reply kept for a run: the whole text and the tokens it cost. Never the API key,
/// nor the endpoint URL (a URL may carry a token).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVerdict {
    /// The run's identity (`JudgePlan::identity`).
    pub run: String,
    pub split: String,
    pub question_id: String,
    pub result: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub model: String,
    /// The endpoint's host; empty in verdicts kept before it was recorded.
    #[serde(default)]
    pub endpoint: String,
    /// The model the reply named (absent in verdicts kept before it was recorded).
    #[serde(default)]
    pub reply_model: Option<String>,
    /// The refusal the reply carried instead of a verdict.
    #[serde(default)]
    pub refusal: Option<String>,
}

impl StoredVerdict {
    /// Keyed by judge too: a second judge's verdict for the same sample never overwrites the
    /// first's (both were paid for).
    fn id(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.run, self.model, self.endpoint, self.split, self.question_id
        )
    }

    /// The reply as the run is given it back for the sample `key` (the one this verdict was
    /// kept for): its text, and what it named.
    pub fn reply(&self, key: SampleKey) -> SampleReply {
        SampleReply {
            key,
            text: self.result.clone(),
            reply_model: self.reply_model.clone(),
            refusal: self.refusal.clone(),
        }
    }

    /// The judge that gave the verdict.
    pub fn judge(&self) -> JudgeIdentity {
        let endpoint = if self.endpoint.is_empty() {
            "unknown endpoint"
        } else {
            &self.endpoint
        };
        JudgeIdentity::current(&self.model, endpoint)
    }
}

pub async fn open_verdicts() -> Result<IdbDatabase, String> {
    open_database(
        VERDICT_DB,
        VERDICT_STORE,
        "this browser has no IndexedDB: verdicts are not kept after a reload",
    )
    .await
}

fn verdict_store(
    db: &IdbDatabase,
    mode: IdbTransactionMode,
) -> Result<(IdbTransaction, web_sys::IdbObjectStore), String> {
    object_store(db, VERDICT_STORE, mode)
}

/// Writes one verdict; resolves once it is committed.
pub async fn put_verdict(db: &IdbDatabase, verdict: &StoredVerdict) -> Result<(), String> {
    let text = serde_json::to_string(verdict).map_err(|e| e.to_string())?;
    let record = js_sys::Object::new();
    let _ = Reflect::set(&record, &"id".into(), &JsValue::from_str(&verdict.id()));
    let _ = Reflect::set(&record, &"verdict".into(), &JsValue::from_str(&text));
    let (transaction, store) = verdict_store(db, IdbTransactionMode::Readwrite)?;
    store.put(&record).map_err(|e| describe(&e))?;
    committed(&transaction).await
}

/// The verdicts kept for the run with identity `run`.
pub async fn verdicts_of(db: &IdbDatabase, run: &str) -> Result<Vec<StoredVerdict>, String> {
    let (_, store) = verdict_store(db, IdbTransactionMode::Readonly)?;
    let request = store.get_all().map_err(|e| describe(&e))?;
    let values: Array = done(&request).await?.unchecked_into();
    Ok(values
        .iter()
        .filter_map(|value| {
            Reflect::get(&value, &"verdict".into())
                .ok()
                .and_then(|v| v.as_string())
        })
        .filter_map(|text| serde_json::from_str::<StoredVerdict>(&text).ok())
        .filter(|v| v.run == run)
        .collect())
}

pub async fn clear_verdicts(db: &IdbDatabase) -> Result<(), String> {
    let (transaction, store) = verdict_store(db, IdbTransactionMode::Readwrite)?;
    store.clear().map_err(|e| describe(&e))?;
    committed(&transaction).await
}

const BERTSCORE_DB: &str = "medhall-lens-bertscore";
const BERTSCORE_STORE: &str = "chunks";

/// One chunk of B.Score values kept for a run as it completed: F1 by question, each with the
/// hash of the texts it was computed for, under the metric signature that names the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredBertScores {
    /// The run's identity (`BertScorePlan::identity`).
    pub run: String,
    pub signature: String,
    pub split: String,
    /// The chunk's first pair within its split.
    pub start: u32,
    /// (question id, pair hash, F1).
    pub values: Vec<(String, String, f64)>,
    /// `medhall_core::identity::bertscore_chunk_hash` of the chunk's pairs: its values apply only
    /// to exactly these pairs (bert_score's padding). Empty in chunks kept before it existed,
    /// which are not reused.
    #[serde(default)]
    pub chunk: String,
    /// When it was kept (ms since the epoch): a reload restores the latest signature's values.
    #[serde(default)]
    pub saved_at: f64,
}

impl StoredBertScores {
    fn id(&self) -> String {
        format!(
            "{}|{}|{}|{:08x}",
            self.run,
            self.split,
            self.start,
            crc(self.signature.as_bytes())
        )
    }
}

/// A small stable hash for keys (the signature is long).
fn crc(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

pub async fn open_bertscores() -> Result<IdbDatabase, String> {
    open_database(
        BERTSCORE_DB,
        BERTSCORE_STORE,
        "this browser has no IndexedDB: B.Score values are not kept after a reload",
    )
    .await
}

/// Writes one chunk; resolves once it is committed.
pub async fn put_bertscores(db: &IdbDatabase, chunk: &StoredBertScores) -> Result<(), String> {
    let text = serde_json::to_string(chunk).map_err(|e| e.to_string())?;
    let record = js_sys::Object::new();
    let _ = Reflect::set(&record, &"id".into(), &JsValue::from_str(&chunk.id()));
    let _ = Reflect::set(&record, &"chunk".into(), &JsValue::from_str(&text));
    let (transaction, store) = object_store(db, BERTSCORE_STORE, IdbTransactionMode::Readwrite)?;
    store.put(&record).map_err(|e| describe(&e))?;
    committed(&transaction).await
}

/// The chunks kept for the run with identity `run`, under any signature.
pub async fn bertscores_of(db: &IdbDatabase, run: &str) -> Result<Vec<StoredBertScores>, String> {
    let (_, store) = object_store(db, BERTSCORE_STORE, IdbTransactionMode::Readonly)?;
    let request = store.get_all().map_err(|e| describe(&e))?;
    let values: Array = done(&request).await?.unchecked_into();
    Ok(values
        .iter()
        .filter_map(|value| {
            Reflect::get(&value, &"chunk".into())
                .ok()
                .and_then(|v| v.as_string())
        })
        .filter_map(|text| serde_json::from_str::<StoredBertScores>(&text).ok())
        .filter(|c| c.run == run)
        .collect())
}

pub async fn clear_bertscores(db: &IdbDatabase) -> Result<(), String> {
    let (transaction, store) = object_store(db, BERTSCORE_STORE, IdbTransactionMode::Readwrite)?;
    store.clear().map_err(|e| describe(&e))?;
    committed(&transaction).await
}

/// Rating sheets (issue 30) live in a database of their own: one record per plan and rater
/// (`RatingSheet::id`), written at every score, so a reload resumes where the rater was.
const RATING_DB: &str = "medhall-lens-ratings";
const RATING_STORE: &str = "sheets";

pub async fn open_ratings() -> Result<IdbDatabase, String> {
    open_database(
        RATING_DB,
        RATING_STORE,
        "this browser has no IndexedDB: ratings are kept only until the page is closed (export them before)",
    )
    .await
}

/// Writes a rater's sheet; resolves once it is committed.
pub async fn put_sheet(db: &IdbDatabase, sheet: &RatingSheet) -> Result<(), String> {
    let text = serde_json::to_string(sheet).map_err(|e| e.to_string())?;
    let record = js_sys::Object::new();
    let _ = Reflect::set(&record, &"id".into(), &JsValue::from_str(&sheet.id()));
    let _ = Reflect::set(&record, &"sheet".into(), &JsValue::from_str(&text));
    let (transaction, store) = object_store(db, RATING_STORE, IdbTransactionMode::Readwrite)?;
    store.put(&record).map_err(|e| describe(&e))?;
    committed(&transaction).await
}

/// Every stored sheet, made consistent with its plan; the ids of records that cannot be read
/// come back beside them (reported, never dropped silently).
pub async fn all_sheets(db: &IdbDatabase) -> Result<(Vec<RatingSheet>, Vec<String>), String> {
    let (_, store) = object_store(db, RATING_STORE, IdbTransactionMode::Readonly)?;
    let request = store.get_all().map_err(|e| describe(&e))?;
    let values: Array = done(&request).await?.unchecked_into();
    let mut sheets = Vec::new();
    let mut unreadable = Vec::new();
    for value in values.iter() {
        let text = Reflect::get(&value, &"sheet".into())
            .ok()
            .and_then(|v| v.as_string());
        match text.map(|t| serde_json::from_str::<RatingSheet>(&t)) {
            Some(Ok(sheet)) => sheets.push(sheet.repaired()),
            _ => unreadable.push(
                Reflect::get(&value, &"id".into())
                    .ok()
                    .and_then(|i| i.as_string())
                    .unwrap_or_default(),
            ),
        }
    }
    Ok((sheets, unreadable))
}

pub async fn delete_sheet(db: &IdbDatabase, id: &str) -> Result<(), String> {
    let (transaction, store) = object_store(db, RATING_STORE, IdbTransactionMode::Readwrite)?;
    store
        .delete(&JsValue::from_str(id))
        .map_err(|e| describe(&e))?;
    committed(&transaction).await
}
