//! Image preprocessing as transformers' Idefics3 image processor (PIL path, transformers 5.24)
//! does it: convert to RGB (transparent pixels composited on white), resize so the longest edge
//! is `size.longest_edge`, then
//! - with image splitting (`do_image_splitting`, SmolVLM's setting): resize so both sides are
//!   multiples of the tile side `max_image_size` (see [`tile_multiple_size`]), cut that into
//!   tiles row by row, and add the whole of it resized to one tile (the global image);
//! - without (or when the user asks for one tile): resize to one `max_image_size` square;
//!
//! then rescale and normalise every tile.
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
    /// Tiles plus a global image (`do_image_splitting`; absent means true, the processor's
    /// default).
    pub do_image_splitting: bool,
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
            do_image_splitting: flag("do_image_splitting"),
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

/// The processor's cap on either side after the first resize (`MAX_IMAGE_SIZE`, 4k).
const MAX_SIDE: usize = 4096;

/// The size after the first resize: longest edge to `max_len`, the other by the aspect ratio,
/// truncated and rounded up to even (transformers' `_resize_output_size_rescale_to_max_len`),
/// then, if a side is still above 4096, scaled below it without rounding to even
/// (`_resize_output_size_scale_below_upper_bound`).
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
    let aspect = w as f64 / h as f64;
    if w >= h && w > MAX_SIDE {
        (w, h) = (MAX_SIDE, (MAX_SIDE as f64 / aspect) as usize);
    } else if h > w && h > MAX_SIDE {
        (w, h) = ((MAX_SIDE as f64 * aspect) as usize, MAX_SIDE);
    }
    (w.max(1), h.max(1))
}

/// The size image splitting resizes to (transformers' `resize_for_vision_encoder`): the longer
/// side rounded up to a multiple of `tile`, the other side from it by the aspect ratio,
/// truncated, then rounded up to a multiple of `tile` too. `None` if a side would be 0 (an
/// image thousands of times longer than wide).
pub fn tile_multiple_size(width: usize, height: usize, tile: usize) -> Option<(usize, usize)> {
    let up = |n: usize| n.div_ceil(tile) * tile;
    let aspect = width as f64 / height as f64;
    let (w, h) = if width >= height {
        let w = up(width);
        (w, up((w as f64 / aspect) as usize))
    } else {
        let h = up(height);
        (up((h as f64 * aspect) as usize), h)
    };
    (w > 0 && h > 0).then_some((w, h))
}

/// How an image is cut for the vision encoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tiling {
    /// As the processor config says (`do_image_splitting`): SmolVLM's model card splits.
    #[default]
    AsConfigured,
    /// One `max_image_size` square of the whole image, whatever the config says: one vision
    /// encoder pass and `image_seq_len` image tokens instead of up to 17 and 17 times as many.
    OneTile,
}

/// Rows and columns of tiles an image was split into; 0 × 0 when it was not split (one
/// image, no row/column tokens in the prompt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileGrid {
    pub rows: usize,
    pub cols: usize,
}

impl TileGrid {
    /// Images the vision encoder sees: the tiles and the global image, or the one image.
    pub fn images(self) -> usize {
        if self.rows == 0 {
            1
        } else {
            self.rows * self.cols + 1
        }
    }
}

/// The processor's output for one image: `grid.images()` squares of side `side`, each
/// `[3, side, side]` channel-major, one after another in `values`, in the processor's order
/// (tiles row by row, then the global image).
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderImages {
    pub side: usize,
    pub grid: TileGrid,
    pub values: Vec<f32>,
}

impl EncoderImages {
    /// Number of images (the tiles and the global image, or one).
    pub fn count(&self) -> usize {
        self.grid.images()
    }

    /// The values of image `index`, `[3, side, side]`.
    pub fn image(&self, index: usize) -> &[f32] {
        let n = 3 * self.side * self.side;
        &self.values[index * n..(index + 1) * n]
    }
}

/// The processor's output for the image `file` without splitting: `[3, size, size]` floats,
/// channel-major, with `size` the settings' `max_image_size` ([`process`] with
/// [`Tiling::OneTile`]).
pub fn preprocess(
    file: &str,
    image: &Rgb8,
    settings: &ImageSettings,
) -> Result<Vec<f32>, ModelError> {
    process(file, image, settings, Tiling::OneTile).map(|images| images.values)
}

/// The processor's output for the image `file`: tiles and a global image when the settings
/// split images and `tiling` does not ask for one tile, else one `max_image_size` square.
/// Without splitting and with `do_resize` false the image is used as it is, so it must already
/// be that square; anything else is an error naming the file and the setting (the model's
/// tensors have that shape, and a wrong one would panic there). With splitting, the resize to
/// tile multiples makes any size fit, as in transformers.
pub fn process(
    file: &str,
    image: &Rgb8,
    settings: &ImageSettings,
    tiling: Tiling,
) -> Result<EncoderImages, ModelError> {
    let side = settings.max_image_size;
    let mut image = image.clone();
    if settings.do_resize {
        let (w, h) = longest_edge_size(image.width, image.height, settings.longest_edge);
        image = resize(&image, w, h, settings.resample);
    }
    let split = settings.do_image_splitting && tiling == Tiling::AsConfigured;
    let mut frames = Vec::new();
    let mut grid = TileGrid::default();
    if split {
        let (w, h) = tile_multiple_size(image.width, image.height, side).ok_or_else(|| {
            ModelError::Image {
                file: file.to_owned(),
                message: format!(
                    "it is {}×{}: too thin to split into {side}-pixel tiles",
                    image.width, image.height
                ),
            }
        })?;
        image = resize(&image, w, h, settings.resample);
        if w > side || h > side {
            grid = TileGrid {
                rows: h / side,
                cols: w / side,
            };
            for r in 0..grid.rows {
                for c in 0..grid.cols {
                    frames.push(crop(&image, c * side, r * side, side, side));
                }
            }
            frames.push(resize(&image, side, side, settings.resample));
        } else {
            frames.push(image);
        }
    } else if settings.do_resize {
        frames.push(resize(&image, side, side, settings.resample));
    } else if (image.width, image.height) != (side, side) {
        return Err(ModelError::Image {
            file: file.to_owned(),
            message: format!(
                "it is {}×{}, but {} sets do_resize to false and the model needs {side}×{side} (max_image_size)",
                image.width, image.height, settings.file
            ),
        });
    } else {
        frames.push(image);
    }
    let mut values = Vec::with_capacity(frames.len() * 3 * side * side);
    for frame in &frames {
        normalise(frame, settings, &mut values);
    }
    Ok(EncoderImages { side, grid, values })
}

/// The `width × height` rectangle at (`x`, `y`).
fn crop(image: &Rgb8, x: usize, y: usize, width: usize, height: usize) -> Rgb8 {
    let mut pixels = Vec::with_capacity(width * height * 3);
    for row in y..y + height {
        let start = (row * image.width + x) * 3;
        pixels.extend_from_slice(&image.pixels[start..start + width * 3]);
    }
    Rgb8 {
        width,
        height,
        pixels,
    }
}

/// Rescales and normalises `image` as the processor does, appending `[3, h, w]` to `out`.
fn normalise(image: &Rgb8, settings: &ImageSettings, out: &mut Vec<f32>) {
    let plane = image.width * image.height;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let out = &mut out[start..];
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

/// Pillow's `Image.resize(size, resample)` for an RGB image (no reducing gap), as Pillow 13
/// does it: two passes, each rounding to 8 bits, a pass skipped when its size is unchanged;
/// horizontal first, unless the height shrinks by more than twice as many pixels as the width
/// does (Pillow 13 runs the vertical pass first then, which changes some pixels by a level;
/// Pillow 12 and older always ran the horizontal pass first).
pub fn resize(image: &Rgb8, width: usize, height: usize, filter: Filter) -> Rgb8 {
    let shrink_h = image.height as i64 - height as i64;
    let shrink_w = image.width as i64 - width as i64;
    if width != image.width && shrink_h > 0 && shrink_h > 2 * shrink_w {
        let tall = resize_vertical(image, height, filter);
        return resize_horizontal(&tall, width, filter);
    }
    let mut current = image.clone();
    if width != current.width {
        current = resize_horizontal(&current, width, filter);
    }
    if height != current.height {
        current = resize_vertical(&current, height, filter);
    }
    current
}

/// One horizontal pass of Pillow's resampling to `width`.
fn resize_horizontal(image: &Rgb8, width: usize, filter: Filter) -> Rgb8 {
    let (_, coeffs) = coefficients(image.width, width, filter);
    let mut pixels = vec![0u8; width * image.height * 3];
    for y in 0..image.height {
        let row = &image.pixels[y * image.width * 3..(y + 1) * image.width * 3];
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
    Rgb8 {
        width,
        height: image.height,
        pixels,
    }
}

/// One vertical pass of Pillow's resampling to `height`.
fn resize_vertical(image: &Rgb8, height: usize, filter: Filter) -> Rgb8 {
    let (_, coeffs) = coefficients(image.height, height, filter);
    let w = image.width;
    let mut pixels = vec![0u8; w * height * 3];
    for (yy, (ymin, weights)) in coeffs.iter().enumerate() {
        for x in 0..w {
            for c in 0..3 {
                let mut sum: i64 = 1 << (PRECISION_BITS - 1);
                for (k, &wt) in weights.iter().enumerate() {
                    sum += i64::from(image.pixels[((ymin + k) * w + x) * 3 + c]) * i64::from(wt);
                }
                pixels[(yy * w + x) * 3 + c] = clip8(sum);
            }
        }
    }
    Rgb8 {
        width: w,
        height,
        pixels,
    }
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
        // Above 4096 the processor scales down again, without rounding to even.
        assert_eq!(longest_edge_size(100, 50, 8192), (4096, 2048));
        assert_eq!(longest_edge_size(3000, 1001, 5000), (4096, 1366));
    }

    #[test]
    fn splitting_rounds_both_sides_up_to_tile_multiples() {
        // SmolVLM's 512-pixel tiles after its 2048 first resize (values from transformers).
        assert_eq!(tile_multiple_size(2048, 1366, 512), Some((2048, 1536)));
        assert_eq!(tile_multiple_size(956, 2048, 512), Some((1024, 2048)));
        assert_eq!(tile_multiple_size(68, 2048, 512), Some((512, 2048)));
        assert_eq!(tile_multiple_size(512, 512, 512), Some((512, 512)));
        assert_eq!(tile_multiple_size(513, 20, 512), Some((1024, 512)));
        assert_eq!(TileGrid { rows: 3, cols: 4 }.images(), 13);
        assert_eq!(TileGrid::default().images(), 1);
    }

    #[test]
    fn tiles_are_cut_row_by_row_and_followed_by_the_global_image() {
        let settings = ImageSettings {
            file: "test".to_owned(),
            longest_edge: 4,
            max_image_size: 2,
            resample: Filter::Bilinear,
            rescale_factor: 1.0,
            image_mean: [0.0; 3],
            image_std: [1.0; 3],
            do_resize: true,
            do_rescale: false,
            do_normalize: false,
            do_image_splitting: true,
        };
        // 4×2 already at the longest edge and at tile multiples: no resampling before the cut.
        let image = Rgb8 {
            width: 4,
            height: 2,
            pixels: (0..8u8).flat_map(|i| [i * 10, 0, 0]).collect(),
        };
        let out = process("t", &image, &settings, Tiling::AsConfigured).expect("splits");
        assert_eq!(out.grid, TileGrid { rows: 1, cols: 2 });
        assert_eq!(out.count(), 3);
        assert_eq!(&out.image(0)[..4], &[0.0, 10.0, 40.0, 50.0]);
        assert_eq!(&out.image(1)[..4], &[20.0, 30.0, 60.0, 70.0]);
        let one = process("t", &image, &settings, Tiling::OneTile).expect("one tile");
        assert_eq!((one.grid, one.count()), (TileGrid::default(), 1));
        assert_eq!(
            out.image(2),
            one.image(0),
            "the global image is the one-tile image"
        );
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
