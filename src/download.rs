//! Downloads made in the page: text files (summaries, per-sample scores, SVG) and PNG renderings
//! of a chart. Nothing is uploaded; the browser saves a local object URL.

use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, HtmlCanvasElement, HtmlImageElement, Url};

fn describe(error: &JsValue) -> String {
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

fn save_blob(blob: &Blob, file_name: &str) -> Result<(), String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let url = Url::create_object_url_with_blob(blob).map_err(|e| describe(&e))?;
    let anchor: HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| describe(&e))?
        .unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    let _ = Url::revoke_object_url(&url);
    Ok(())
}

fn blob_of(text: &str, mime: &str) -> Result<Blob, String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|e| describe(&e))
}

pub fn download_text(file_name: &str, mime: &str, text: &str) -> Result<(), String> {
    save_blob(&blob_of(text, mime)?, file_name)
}

/// Draws the SVG on a canvas (twice its size, for sharp text) and saves it as PNG.
pub fn download_png(svg: &str, file_name: &str, width: u32, height: u32) -> Result<(), String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let url = Url::create_object_url_with_blob(&blob_of(svg, "image/svg+xml")?)
        .map_err(|e| describe(&e))?;
    let image = HtmlImageElement::new().map_err(|e| describe(&e))?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(|e| describe(&e))?
        .unchecked_into();
    canvas.set_width(width * 2);
    canvas.set_height(height * 2);
    let name = file_name.to_owned();
    let loaded = image.clone();
    let svg_url = url.clone();
    let on_load = Closure::once_into_js(move || {
        let _ = Url::revoke_object_url(&svg_url);
        let Some(context) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        context.set_fill_style_str("#ffffff");
        context.fill_rect(0.0, 0.0, f64::from(width * 2), f64::from(height * 2));
        let _ = context.draw_image_with_html_image_element_and_dw_and_dh(
            &loaded,
            0.0,
            0.0,
            f64::from(width * 2),
            f64::from(height * 2),
        );
        let on_blob = Closure::once_into_js(move |blob: JsValue| {
            if let Ok(blob) = blob.dyn_into::<Blob>() {
                let _ = save_blob(&blob, &name);
            }
        });
        let _ = canvas.to_blob(on_blob.unchecked_ref());
    });
    image.set_onload(Some(on_load.unchecked_ref()));
    image.set_src(&url);
    Ok(())
}
