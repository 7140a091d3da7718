//! Where the model check reads the questions' images: an image base URL, a picked or dropped
//! folder, or a zip read one entry at a time. Browser file reading only; no model worker here.

use medhall_core::export::redact_url;
use medhall_model_check::image_files::ImageIndex;
use medhall_model_check::zip::{self, DirectoryLookup, ZipEntry};
use std::ops::Range;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{url}: the request failed ({e:?})"))?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| format!("{url}: not a response"))?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(
        response
            .array_buffer()
            .map_err(|e| format!("{url}: {e:?}"))?,
    )
    .await
    .map_err(|e| format!("{url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The questions' images the user gave instead of an image base URL: a picked or dropped folder,
/// or a zip archive whose entries are read one at a time (only its central directory and the
/// entries asked for are read, never the whole archive).
pub(super) enum GivenImages {
    Files {
        label: String,
        index: ImageIndex<File>,
    },
    Zip {
        archive: File,
        index: ImageIndex<ZipEntry>,
    },
}

impl GivenImages {
    pub(super) fn describe(&self) -> String {
        match self {
            GivenImages::Files { label, index } => format!("{} files from {label}", index.len()),
            GivenImages::Zip { archive, index } => {
                format!("{} files in {}", index.len(), archive.name())
            }
        }
    }

    pub(super) async fn read(&self, image: &str) -> Result<Vec<u8>, String> {
        match self {
            GivenImages::Files { index, .. } => {
                let file = index.find(image).map_err(|e| e.to_string())?;
                read_blob(file, None).await.map(|a| a.to_vec())
            }
            GivenImages::Zip { archive, index } => {
                let name = archive.name();
                let entry = index.find(image).map_err(|e| format!("{name}: {e}"))?;
                let in_zip = |e: zip::ZipError| format!("{name}: {}: {e}", entry.name);
                let header = read_blob(archive, Some(entry.header_range())).await?;
                let data_range = entry.data_range(&header.to_vec()).map_err(in_zip)?;
                let data = read_blob(archive, Some(data_range)).await?;
                entry.extract(&data.to_vec()).map_err(in_zip)
            }
        }
    }
}

/// A file's bytes, or a byte range of them (`Blob.slice`: only that part is read).
pub(super) async fn read_blob(
    blob: &web_sys::Blob,
    range: Option<Range<u64>>,
) -> Result<js_sys::Uint8Array, String> {
    let name = blob
        .dyn_ref::<File>()
        .map_or_else(|| "a file".to_owned(), File::name);
    let part = match range {
        Some(r) => blob
            .slice_with_f64_and_f64(r.start as f64, r.end as f64)
            .map_err(|e| format!("{name}: cannot read bytes {}..{}: {e:?}", r.start, r.end))?,
        None => blob.clone().unchecked_into(),
    };
    let buffer = JsFuture::from(part.array_buffer())
        .await
        .map_err(|e| format!("{name}: cannot be read ({e:?})"))?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// Reads a zip's central directory (its tail, then the directory itself).
async fn open_zip(archive: File) -> Result<GivenImages, String> {
    let name = archive.name();
    let in_zip = |e: zip::ZipError| format!("{name}: {e}");
    let len = archive.size() as u64;
    let tail_range = zip::tail_range(len);
    let tail = read_blob(&archive, Some(tail_range.clone()))
        .await?
        .to_vec();
    let directory = match zip::find_directory(&tail, tail_range.start).map_err(in_zip)? {
        DirectoryLookup::Found(directory) => directory,
        DirectoryLookup::NeedZip64Record(range) => {
            let record = read_blob(&archive, Some(range)).await?.to_vec();
            zip::parse_zip64_record(&record).map_err(in_zip)?
        }
    };
    let end = directory
        .offset
        .checked_add(directory.size)
        .ok_or_else(|| format!("{name}: the central directory's size overflows"))?;
    let bytes = read_blob(&archive, Some(directory.offset..end))
        .await?
        .to_vec();
    let entries = zip::parse_directory(&bytes, &directory).map_err(in_zip)?;
    let index = ImageIndex::new(
        entries
            .into_iter()
            .filter(|e| !e.is_dir())
            .map(|e| (e.name.clone(), e)),
    );
    if index.is_empty() {
        return Err(format!("{name}: the archive holds no files"));
    }
    Ok(GivenImages::Zip { archive, index })
}

/// A picked file's path inside the picked folder (`webkitRelativePath`), else its name.
pub(super) fn relative_path(file: &File) -> String {
    js_sys::Reflect::get(file, &"webkitRelativePath".into())
        .ok()
        .and_then(|v| v.as_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| file.name())
}

fn is_zip(file: &File) -> bool {
    file.name().to_ascii_lowercase().ends_with(".zip")
}

/// What the user gave as images: one zip, or any number of files (a folder's).
pub(super) async fn given_images(
    files: Vec<(String, File)>,
    label: String,
) -> Result<GivenImages, String> {
    match files.as_slice() {
        [] => Err("no files were given".to_owned()),
        [(_, file)] if is_zip(file) => open_zip(file.clone()).await,
        _ => {
            let index = ImageIndex::new(files);
            if index.is_empty() {
                return Err(format!("{label} holds no image files"));
            }
            Ok(GivenImages::Files { label, index })
        }
    }
}

/// A callback-style browser API as a future: `start` gets the resolve and reject functions.
async fn callback_future(
    start: impl FnOnce(&js_sys::Function, &js_sys::Function),
) -> Result<JsValue, JsValue> {
    let mut start = Some(start);
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        if let Some(start) = start.take() {
            start(&resolve, &reject);
        }
    });
    JsFuture::from(promise).await
}

fn call_method(target: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let method: js_sys::Function = js_sys::Reflect::get(target, &name.into())?.dyn_into()?;
    let args: js_sys::Array = args.iter().copied().collect();
    method.apply(target, &args)
}

fn flag(target: &JsValue, name: &str) -> bool {
    js_sys::Reflect::get(target, &name.into()).is_ok_and(|v| v.is_truthy())
}

/// The files of a drop, with their paths; dropped folders are walked with the File System
/// Entries API (`webkitGetAsEntry`), which must be asked during the drop event itself: `entries`
/// are those, taken then.
pub(super) async fn walk_entries(entries: Vec<JsValue>) -> Result<Vec<(String, File)>, String> {
    let mut stack = entries;
    let mut files = Vec::new();
    let failed = |e: JsValue| format!("the dropped files cannot be read ({e:?})");
    while let Some(entry) = stack.pop() {
        if flag(&entry, "isFile") {
            let file = callback_future(|resolve, reject| {
                let _ = call_method(&entry, "file", &[resolve, reject]);
            })
            .await
            .map_err(failed)?;
            let path = js_sys::Reflect::get(&entry, &"fullPath".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            if let Ok(file) = file.dyn_into::<File>() {
                let path = path.trim_start_matches('/').to_owned();
                files.push((if path.is_empty() { file.name() } else { path }, file));
            }
        } else if flag(&entry, "isDirectory") {
            let reader = call_method(&entry, "createReader", &[]).map_err(failed)?;
            // readEntries answers in batches; an empty batch ends the folder.
            loop {
                let batch = callback_future(|resolve, reject| {
                    let _ = call_method(&reader, "readEntries", &[resolve, reject]);
                })
                .await
                .map_err(failed)?;
                let batch = js_sys::Array::from(&batch);
                if batch.length() == 0 {
                    break;
                }
                stack.extend(batch.iter());
            }
        }
    }
    Ok(files)
}

/// The entries of a drop (folders included), read during the drop event.
pub(super) fn drop_entries(ev: &leptos::ev::DragEvent) -> Vec<JsValue> {
    let Some(transfer) = ev.data_transfer() else {
        return Vec::new();
    };
    let Ok(items) = js_sys::Reflect::get(&transfer, &"items".into()) else {
        return Vec::new();
    };
    let length = js_sys::Reflect::get(&items, &"length".into())
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0) as u32;
    (0..length)
        .filter_map(|i| js_sys::Reflect::get_u32(&items, i).ok())
        .filter_map(|item| call_method(&item, "webkitGetAsEntry", &[]).ok())
        .filter(|entry| !entry.is_null() && !entry.is_undefined())
        .collect()
}

/// Where a run reads the questions' images.
pub(super) enum ImageSource {
    Url(String),
    Given(Rc<GivenImages>),
}

impl ImageSource {
    pub(super) fn describe(&self) -> String {
        match self {
            ImageSource::Url(base) => format!("image base URL {}", redact_url(base)),
            ImageSource::Given(given) => given.describe(),
        }
    }

    pub(super) async fn read(&self, image: &str) -> Result<Vec<u8>, String> {
        match self {
            ImageSource::Url(base) => fetch_bytes(&format!("{base}{image}")).await,
            ImageSource::Given(given) => given.read(image).await,
        }
    }
}
