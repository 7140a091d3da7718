//! Image preprocessing as transformers' Idefics3 image processor (PIL path) does it with image
//! splitting off: convert to RGB (transparent pixels composited on white), resize so the longest
//! edge is `size.longest_edge`, resize to a `max_image_size` square, rescale, normalise.
//!
//! The resizes reproduce Pillow's `Image.resize` on 8-bit images bit for bit (its separable
//! convolution with fixed-point coefficients, horizontal pass first), since the model's input,
//! and so every logit, depends on them.

use serde_json::Value;

use crate::ModelError;
use crate::config::Idefics3Config;

/// The image processor's settings (`processor_config.json` → `image_processor` in
/// transformers 5, `preprocessor_config.json` in older snapshots).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSettings {
    /// The file they came from, for errors.
    pub file: String,
    pub longest_edge: usize,
    pub max_image_size: usize,
    pub resample: Filter,
    pub rescale_factor: f64,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub do_resize: bool,
    pub do_rescale: bool,
    pub do_normalize: bool,
}

/// Pillow's resampling filters that this module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Bilinear,
    Bicubic,
    Lanczos,
}

impl Filter {
    fn from_pil(code: u64) -> Option<Filter> {
        match code {
            1 => Some(Filter::Lanczos),
            2 => Some(Filter::Bilinear),
            3 => Some(Filter::Bicubic),
            _ => None,
        }
    }

    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

impl ImageSettings {
    /// Reads the settings from `processor_config.json` (transformers 5: under `image_processor`)
    /// or `preprocessor_config.json` (the settings at the top level).
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<ImageSettings, ModelError> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let v = root.get("image_processor").unwrap_or(&root);
        let field = |name: &str, message: &str| ModelError::Field {
            file: file.to_owned(),
            field: name.to_owned(),
            message: message.to_owned(),
        };
        let edge = |name: &str| -> Result<usize, ModelError> {
            v.get(name)
                .and_then(|s| s.get("longest_edge"))
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| field(name, "needs a positive `longest_edge`"))
        };
        let triple = |name: &str| -> Result<[f32; 3], ModelError> {
            let values: Vec<f32> = v
                .get(name)
                .and_then(Value::as_array)
                .ok_or_else(|| field(name, "needs three numbers"))?
                .iter()
                .map(|x| x.as_f64().map(|x| x as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| field(name, "needs three numbers"))?;
            values
                .try_into()
                .map_err(|_| field(name, "needs three numbers"))
        };
        let flag = |name: &str| v.get(name).and_then(Value::as_bool).unwrap_or(true);
        let resample = v.get("resample").and_then(Value::as_u64).unwrap_or(1);
        let image_std = triple("image_std")?;
        if image_std.contains(&0.0) {
            return Err(field("image_std", "a standard deviation of 0"));
        }
        Ok(ImageSettings {
            file: file.to_owned(),
            longest_edge: edge("size")?,
            max_image_size: edge("max_image_size")?,
            resample: Filter::from_pil(resample).ok_or_else(|| {
                field(
                    "resample",
                    "only PIL's LANCZOS (1), BILINEAR (2) and BICUBIC (3) are implemented",
                )
            })?,
            rescale_factor: v
                .get("rescale_factor")
                .and_then(Value::as_f64)
                .unwrap_or(1.0 / 255.0),
            image_mean: triple("image_mean")?,
            image_std,
            do_resize: flag("do_resize"),
            do_rescale: flag("do_rescale"),
            do_normalize: flag("do_normalize"),
        })
    }
}

impl ImageSettings {
    /// A model folder's image settings, checked against its `config.json`: from
    /// `processor_config.json` when it holds them (`image_processor`, transformers 5), else from
    /// `preprocessor_config.json` (older snapshots). The images it produces are
    /// `max_image_size` squares, and the vision encoder takes `vision_config.image_size`
    /// squares only, so the two must agree (config.json's `num_channels` is checked by
    /// [`Idefics3Config::from_json`]).
    pub fn for_model(
        processor_config: Option<&[u8]>,
        preprocessor_config: Option<&[u8]>,
        config: &Idefics3Config,
    ) -> Result<ImageSettings, ModelError> {
        const PROCESSOR: &str = "processor_config.json";
        let holds_settings = |bytes: &[u8]| {
            serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.get("image_processor").is_some())
        };
        let missing = |message: &str| ModelError::Field {
            file: PROCESSOR.to_owned(),
            field: "image_processor".to_owned(),
            message: message.to_owned(),
        };
        let settings = match (processor_config, preprocessor_config) {
            (Some(p), _) if holds_settings(p) => ImageSettings::from_json(PROCESSOR, p)?,
            (_, Some(p)) => ImageSettings::from_json("preprocessor_config.json", p)?,
            // Not JSON: say so (from_json's error) rather than that the key is missing.
            (Some(p), None) if serde_json::from_slice::<Value>(p).is_err() => {
                ImageSettings::from_json(PROCESSOR, p)?
            }
            (Some(_), None) => {
                return Err(missing(
                    "not there, and there is no preprocessor_config.json: no image-processor settings",
                ));
            }
            (None, None) => {
                return Err(missing(
                    "neither processor_config.json nor preprocessor_config.json is in the model folder: no image-processor settings",
                ));
            }
        };
        let side = config.vision.image_size;
        if settings.max_image_size != side {
            let field = if settings.file == PROCESSOR {
                "image_processor.max_image_size.longest_edge"
            } else {
                "max_image_size.longest_edge"
            };
            return Err(ModelError::Field {
                file: settings.file,
                field: field.to_owned(),
                message: format!(
                    "is {}, but config.json's vision_config.image_size is {side}: the vision encoder takes {side}×{side} images",
                    settings.max_image_size
                ),
            });
        }
        Ok(settings)
    }
}

/// An 8-bit RGB image, row-major, 3 bytes a pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Decodes PNG or JPEG bytes to RGB; transparency is composited on white, as transformers'
/// `convert_to_rgb` does.
pub fn decode(file: &str, bytes: &[u8]) -> Result<Rgb8, ModelError> {
    let image = image::load_from_memory(bytes).map_err(|e| ModelError::Image {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    if width == 0 || height == 0 {
        return Err(ModelError::Image {
            file: file.to_owned(),
            message: "the image is empty".to_owned(),
        });
    }
    let pixels = if image.color().has_alpha() {
        image
            .to_rgba8()
            .pixels()
            .flat_map(|p| {
                let a = u32::from(p.0[3]);
                [0, 1, 2].map(|c| over_white(u32::from(p.0[c]), a))
            })
            .collect()
    } else {
        image.to_rgb8().into_raw()
    };
    Ok(Rgb8 {
        width,
        height,
        pixels,
    })
}

/// Pillow's `alpha_composite` of a pixel over opaque white, in its fixed-point arithmetic.
fn over_white(channel: u32, alpha: u32) -> u8 {
    let coef1 = alpha * 128;
    let coef2 = (255 - alpha) * 128;
    let tmp = channel * coef1 + 255 * coef2 + (0x80 << 7);
    let div255 = ((tmp >> 8) + tmp) >> 8;
    (div255 >> 7).min(255) as u8
}

/// The size after the first resize: longest edge to `max_len`, the other by the aspect ratio,
/// truncated and rounded up to even (transformers' `_resize_output_size_rescale_to_max_len`).
fn longest_edge_size(width: usize, height: usize, max_len: usize) -> (usize, usize) {
    let aspect = width as f64 / height as f64;
    let (mut w, mut h) = if width >= height {
        let h = (max_len as f64 / aspect) as usize;
        (max_len, h + h % 2)
    } else {
        let w = (max_len as f64 * aspect) as usize;
        (w + w % 2, max_len)
    };
    w = w.max(1);
    h = h.max(1);
    (w, h)
}

/// The processor's output for the image `file`: `[3, size, size]` floats, channel-major, with
/// `size` the settings' `max_image_size`. With `do_resize` false the image is used as it is, so
/// it must already be that square; anything else is an error naming the file and the setting
/// (the model's tensors have that shape, and a wrong one would panic there).
pub fn preprocess(
    file: &str,
    image: &Rgb8,
    settings: &ImageSettings,
) -> Result<Vec<f32>, ModelError> {
    let mut image = image.clone();
    let side = settings.max_image_size;
    if settings.do_resize {
        let (w, h) = longest_edge_size(image.width, image.height, settings.longest_edge);
        image = resize(&image, w, h, settings.resample);
        image = resize(&image, side, side, settings.resample);
    } else if (image.width, image.height) != (side, side) {
        return Err(ModelError::Image {
            file: file.to_owned(),
            message: format!(
                "it is {}×{}, but {} sets do_resize to false and the model needs {side}×{side} (max_image_size)",
                image.width, image.height, settings.file
            ),
        });
    }
    let plane = image.width * image.height;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, pixel) in image.pixels.chunks_exact(3).enumerate() {
        for c in 0..3 {
            let mut x = f32::from(pixel[c]);
            if settings.do_rescale {
                // numpy: uint8 array * python float is float64, then cast to float32.
                x = (f64::from(pixel[c]) * settings.rescale_factor) as f32;
            }
            if settings.do_normalize {
                x = (x - settings.image_mean[c]) / settings.image_std[c];
            }
            out[c * plane + i] = x;
        }
    }
    Ok(out)
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc`: for each output index, the first
/// input index and the fixed-point weights.
fn coefficients(input: usize, output: usize, filter: Filter) -> (usize, Vec<(usize, Vec<i32>)>) {
    let scale = input as f64 / output as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let ksize = support.ceil() as usize * 2 + 1;
    let ss = 1.0 / filter_scale;
    let mut rows = Vec::with_capacity(output);
    for xx in 0..output {
        let center = (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(input as i64) as usize;
        let count = xmax.saturating_sub(xmin);
        let mut weights: Vec<f64> = (0..count)
            .map(|x| filter.weight((x as f64 + xmin as f64 - center + 0.5) * ss))
            .collect();
        let total: f64 = weights.iter().sum();
        if total != 0.0 {
            for w in &mut weights {
                *w /= total;
            }
        }
        let fixed = weights
            .iter()
            .map(|&w| {
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                if w < 0.0 {
                    (-0.5 + scaled) as i32
                } else {
                    (0.5 + scaled) as i32
                }
            })
            .collect();
        rows.push((xmin, fixed));
    }
    (ksize, rows)
}

fn clip8(value: i64) -> u8 {
    let shifted = value >> PRECISION_BITS;
    shifted.clamp(0, 255) as u8
}

/// Pillow's `Image.resize(size, resample)` for an RGB image (no reducing gap): horizontal pass
/// then vertical pass, each rounding to 8 bits; a pass is skipped when its size is unchanged.
pub fn resize(image: &Rgb8, width: usize, height: usize, filter: Filter) -> Rgb8 {
    let mut current = image.clone();
    if width != current.width {
        let (_, coeffs) = coefficients(current.width, width, filter);
        let mut pixels = vec![0u8; width * current.height * 3];
        for y in 0..current.height {
            let row = &current.pixels[y * current.width * 3..(y + 1) * current.width * 3];
            for (xx, (xmin, weights)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let mut sum: i64 = 1 << (PRECISION_BITS - 1);
                    for (k, &w) in weights.iter().enumerate() {
                        sum += i64::from(row[(xmin + k) * 3 + c]) * i64::from(w);
                    }
                    pixels[(y * width + xx) * 3 + c] = clip8(sum);
                }
            }
        }
        current = Rgb8 {
            width,
            height: current.height,
            pixels,
        };
    }
    if height != current.height {
        let (_, coeffs) = coefficients(current.height, height, filter);
        let w = current.width;
        let mut pixels = vec![0u8; w * height * 3];
        for (yy, (ymin, weights)) in coeffs.iter().enumerate() {
            for x in 0..w {
                for c in 0..3 {
                    let mut sum: i64 = 1 << (PRECISION_BITS - 1);
                    for (k, &wt) in weights.iter().enumerate() {
                        sum +=
                            i64::from(current.pixels[((ymin + k) * w + x) * 3 + c]) * i64::from(wt);
                    }
                    pixels[(yy * w + x) * 3 + c] = clip8(sum);
                }
            }
        }
        current = Rgb8 {
            width: w,
            height,
            pixels,
        };
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_resize_keeps_the_aspect_and_rounds_up_to_even() {
        assert_eq!(longest_edge_size(40, 30, 256), (256, 192));
        assert_eq!(longest_edge_size(30, 40, 256), (192, 256));
        assert_eq!(longest_edge_size(100, 33, 64), (64, 22));
        assert_eq!(longest_edge_size(1000, 1, 64), (64, 1));
    }

    #[test]
    fn resizing_to_the_same_size_is_the_identity_and_constant_images_stay_constant() {
        let image = Rgb8 {
            width: 5,
            height: 3,
            pixels: (0..45).map(|i| (i * 5) as u8).collect(),
        };
        assert_eq!(resize(&image, 5, 3, Filter::Lanczos), image);
        let flat = Rgb8 {
            width: 7,
            height: 9,
            pixels: vec![200; 7 * 9 * 3],
        };
        let out = resize(&flat, 20, 4, Filter::Lanczos);
        assert!(out.pixels.iter().all(|&p| p == 200), "{:?}", out.pixels);
    }

    #[test]
    fn white_compositing_keeps_opaque_pixels_and_whitens_transparent_ones() {
        assert_eq!(over_white(17, 255), 17);
        assert_eq!(over_white(17, 0), 255);
        assert_eq!(over_white(0, 128), 127);
    }
}
