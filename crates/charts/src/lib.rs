//! Renders `medhall-core`'s chart specs to SVG with plotters' SVG backend: in the page (on the
//! main thread) and in `medhall report`, so both draw the same chart from the same numbers.
//!
//! Text is written as SVG `<text>` with anchors, so no font files and no text measurement are
//! needed anywhere; plotters escapes it. Each bar also gets a transparent `<rect class="hit">`
//! with a `<title>` holding its exact values (hover) and `data-*` attributes saying what
//! clicking it should filter to. Every label can be user text (run names, type values) and is
//! escaped. No leptos, no web-sys: the page inserts the string.

use medhall_core::chart::{BarChart, BarFilter, ChartSpec, Histogram, ScatterChart};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("a chart needs at least 200 x 150 pixels, got {0} x {1}")]
    TooSmall(u32, u32),
}

/// Okabe and Ito's colour-blind-safe palette (yellow last: it is faint on white).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];
const FONT: &str = "sans-serif";
/// plotters' SVG backend writes a font of size `s` as `font-size = s / 1.24`; sizes here are
/// the pixels wanted in the SVG, turned into plotters' unit by this factor.
const PLOTTERS_FONT_UNIT: f64 = 1.24;
/// Text sizes in SVG pixels. The page draws a chart at the width it is shown at (and `medhall
/// report` at its own), so these are the displayed sizes: none below 12 px.
const TITLE_PX: f64 = 16.0;
const TEXT_PX: f64 = 13.0;
const SMALL_PX: f64 = 12.0;
const LEFT: i32 = 72;
const RIGHT: i32 = 16;
const TOP: i32 = 50;
const AXIS_LABELS: i32 = 48;
const LEGEND_ROW: i32 = 21;

/// Each series' colour: one hue per model (first seen first), the negative split a lighter
/// shade of it (`chart::series_model`), so a model keeps its hue across the charts it is in.
fn series_colors<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<RGBColor> {
    let mut models: Vec<String> = Vec::new();
    names
        .into_iter()
        .map(|name| {
            let (model, split) = medhall_core::chart::series_model(name);
            let index = match models.iter().position(|m| *m == model) {
                Some(index) => index,
                None => {
                    models.push(model);
                    models.len() - 1
                }
            };
            let RGBColor(r, g, b) = PALETTE[index % PALETTE.len()];
            if split == Some(medhall_core::sample::Split::Negative) {
                let lighter = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * 0.45).round() as u8;
                RGBColor(lighter(r), lighter(g), lighter(b))
            } else {
                RGBColor(r, g, b)
            }
        })
        .collect()
}

/// XML escaping for attribute values and text we write ourselves.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if xml_forbidden(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Characters XML 1.0 does not allow in a document, even escaped.
fn xml_forbidden(c: char) -> bool {
    ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// A bar's hover title and click filter, placed over it after plotters' drawing.
struct Hit {
    x: i32,
    y: i32,
    width: i32,
    height: i32,
    title: String,
    filter: BarFilter,
}

impl Hit {
    fn svg(&self) -> String {
        let mut attributes = String::new();
        let mut add = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                attributes.push_str(&format!(" {name}=\"{}\"", escape(value)));
            }
        };
        add("data-run", self.filter.run.as_deref());
        add("data-split", self.filter.split.map(|s| s.as_str()));
        add("data-field", self.filter.field.as_deref());
        add("data-value", self.filter.value.as_deref());
        format!(
            "<rect class=\"hit\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#000\" fill-opacity=\"0\"{attributes}><title>{}</title></rect>\n",
            self.x,
            self.y,
            self.width.max(1),
            self.height.max(1),
            escape(&self.title)
        )
    }
}

fn draw_error<E: std::fmt::Debug>(error: E) -> ChartError {
    ChartError::Draw(format!("{error:?}"))
}

/// A "nice" tick step for a range (1, 2 or 5 times a power of ten), about five ticks.
fn tick_step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn style<'a>(px: f64, color: &'a RGBColor, h: HPos, v: VPos) -> TextStyle<'a> {
    TextStyle::from((FONT, px * PLOTTERS_FONT_UNIT).into_font())
        .color(color)
        .pos(Pos::new(h, v))
}

/// About how many characters of `TEXT_PX` sans-serif text fit in `pixels` (an average glyph is
/// a little over half the font size; no text is measured anywhere).
fn text_chars(pixels: i32) -> usize {
    (f64::from(pixels.max(0)) / (TEXT_PX * 0.6)) as usize
}

/// Shortens a label to about `chars` characters for the axis (the hover title has it whole).
/// Every text handed to plotters passes here: plotters escapes markup but keeps control
/// characters, which would make the SVG ill-formed XML.
fn short(label: &str, chars: usize) -> String {
    let label: String = label
        .chars()
        .map(|c| if xml_forbidden(c) { '\u{fffd}' } else { c })
        .collect();
    match label.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &label[..cut]),
        None => label,
    }
}

struct Frame {
    width: i32,
    plot_bottom: i32,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    fn y(&self, value: f64) -> i32 {
        let span = (self.y_max - self.y_min).max(f64::MIN_POSITIVE);
        let fraction = ((value - self.y_min) / span).clamp(0.0, 1.0);
        self.plot_bottom - (fraction * f64::from(self.plot_bottom - TOP)).round() as i32
    }

    fn plot_right(&self) -> i32 {
        self.width - RIGHT
    }
}

/// Title, y axis with ticks and grid, and the legend; returns the frame for the bars.
fn draw_frame(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_label: &str,
    legend: &[String],
    (y_min, y_max): (f64, f64),
    (width, height): (i32, i32),
) -> Result<Frame, ChartError> {
    root.fill(&WHITE).map_err(draw_error)?;
    root.draw_text(
        &short(
            title,
            text_chars(width - LEFT - 8) * TEXT_PX as usize / TITLE_PX as usize,
        ),
        &style(TITLE_PX, &BLACK, HPos::Left, VPos::Top),
        (LEFT, 10),
    )
    .map_err(draw_error)?;
    // Two legend columns where each has room for a file name and its split, else one.
    let columns: i32 = if width >= 640 { 2 } else { 1 };
    let legend_rows = legend.len().div_ceil(columns as usize) as i32;
    let plot_bottom = height - AXIS_LABELS - legend_rows * LEGEND_ROW - 8;
    let frame = Frame {
        width,
        plot_bottom,
        y_min,
        y_max,
    };
    let grid = RGBColor(225, 228, 232);
    let step = tick_step(y_max - y_min);
    let mut tick = (y_min / step).ceil() * step;
    while tick <= y_max + step * 1e-9 {
        if tick.abs() < step * 1e-9 {
            tick = 0.0; // no "-0.00" label
        }
        let y = frame.y(tick);
        root.draw(&PathElement::new(
            vec![(LEFT, y), (frame.plot_right(), y)],
            grid.stroke_width(1),
        ))
        .map_err(draw_error)?;
        root.draw_text(
            &tick_label(tick, step),
            &style(TEXT_PX, &BLACK, HPos::Right, VPos::Center),
            (LEFT - 6, y),
        )
        .map_err(draw_error)?;
        tick += step;
    }
    // Axes; the zero line is darker when the range spans it.
    let axis = RGBColor(90, 90, 90);
    root.draw(&PathElement::new(
        vec![(LEFT, TOP), (LEFT, plot_bottom)],
        axis.stroke_width(1),
    ))
    .map_err(draw_error)?;
    let zero = if y_min < 0.0 && y_max > 0.0 {
        frame.y(0.0)
    } else {
        plot_bottom
    };
    root.draw(&PathElement::new(
        vec![(LEFT, zero), (frame.plot_right(), zero)],
        axis.stroke_width(1),
    ))
    .map_err(draw_error)?;
    root.draw_text(
        &short(y_label, 40),
        &style(TEXT_PX, &axis, HPos::Left, VPos::Bottom),
        (4, TOP - 4),
    )
    .map_err(draw_error)?;
    // Legend: two columns under the plot.
    let column = (width - LEFT - RIGHT) / columns;
    let legend_chars = text_chars(column - 20);
    let colors = series_colors(legend.iter().map(String::as_str));
    for (i, name) in legend.iter().enumerate() {
        let x = LEFT + (i as i32 % columns) * column;
        let y = height - legend_rows * LEGEND_ROW - 4 + (i as i32 / columns) * LEGEND_ROW;
        let color = colors[i];
        root.draw(&Rectangle::new(
            [(x, y + 3), (x + 12, y + 13)],
            color.filled(),
        ))
        .map_err(draw_error)?;
        root.draw_text(
            &short(name, legend_chars),
            &style(TEXT_PX, &BLACK, HPos::Left, VPos::Center),
            (x + 16, y + 8),
        )
        .map_err(draw_error)?;
    }
    Ok(frame)
}

fn empty_chart(svg: &mut String, title: &str, width: u32, height: u32) -> Result<(), ChartError> {
    let root = SVGBackend::with_string(svg, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    root.draw_text(
        &short(
            title,
            text_chars(width as i32 - LEFT - 8) * TEXT_PX as usize / TITLE_PX as usize,
        ),
        &style(TITLE_PX, &BLACK, HPos::Left, VPos::Top),
        (LEFT, 10),
    )
    .map_err(draw_error)?;
    root.draw_text(
        "No data for this chart yet.",
        &style(TEXT_PX, &RGBColor(90, 90, 90), HPos::Center, VPos::Center),
        (width as i32 / 2, height as i32 / 2),
    )
    .map_err(draw_error)?;
    root.present().map_err(draw_error)
}

fn value_range(chart: &BarChart) -> (f64, f64) {
    let mut low: f64 = 0.0;
    let mut high: f64 = 0.0;
    for bar in chart.series.iter().flat_map(|s| s.bars.iter().flatten()) {
        for v in std::iter::once(bar.value).chain(bar.ci95.into_iter().flatten()) {
            if v.is_finite() {
                low = low.min(v);
                high = high.max(v);
            }
        }
    }
    if let Some([a, b]) = chart.y_range
        && low >= a
        && high <= b
    {
        return (a, b);
    }
    let pad = ((high - low) * 0.08).max(1e-9);
    (if low < 0.0 { low - pad } else { 0.0 }, high + pad)
}

fn render_bars(chart: &BarChart, width: u32, height: u32) -> Result<String, ChartError> {
    let mut svg = String::new();
    let (w, h) = (width as i32, height as i32);
    let legend: Vec<String> = chart.series.iter().map(|s| s.name.clone()).collect();
    let colors = series_colors(legend.iter().map(String::as_str));
    let mut hits = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let frame = draw_frame(
            &root,
            &chart.title,
            &chart.y_label,
            &legend,
            value_range(chart),
            (w, h),
        )?;
        let slot = f64::from(frame.plot_right() - LEFT) / chart.categories.len() as f64;
        let group = slot * 0.8;
        let bar_width = group / chart.series.len().max(1) as f64;
        let baseline = frame.y(0.0_f64.clamp(frame.y_min, frame.y_max));
        for (c, category) in chart.categories.iter().enumerate() {
            let slot_left = f64::from(LEFT) + slot * c as f64;
            root.draw_text(
                &short(category, text_chars(slot as i32 - 6).max(4)),
                &style(TEXT_PX, &BLACK, HPos::Center, VPos::Top),
                ((slot_left + slot / 2.0) as i32, frame.plot_bottom + 6),
            )
            .map_err(draw_error)?;
            for (s, series) in chart.series.iter().enumerate() {
                let Some(bar) = series.bars.get(c).and_then(Option::as_ref) else {
                    continue;
                };
                if !bar.value.is_finite() {
                    continue;
                }
                let x0 = (slot_left + slot * 0.1 + bar_width * s as f64) as i32;
                let x1 = (slot_left + slot * 0.1 + bar_width * (s + 1) as f64) as i32 - 1;
                let y = frame.y(bar.value);
                let color = colors[s];
                root.draw(&Rectangle::new(
                    [(x0, y.min(baseline)), (x1.max(x0 + 1), y.max(baseline))],
                    color.mix(0.85).filled(),
                ))
                .map_err(draw_error)?;
                if let Some([low, high]) = bar.ci95
                    && low.is_finite()
                    && high.is_finite()
                {
                    let mid = (x0 + x1) / 2;
                    let (yl, yh) = (frame.y(low), frame.y(high));
                    let whisker = BLACK.stroke_width(1);
                    root.draw(&PathElement::new(vec![(mid, yl), (mid, yh)], whisker))
                        .map_err(draw_error)?;
                    let cap = ((x1 - x0) / 4).clamp(2, 6);
                    for yy in [yl, yh] {
                        root.draw(&PathElement::new(
                            vec![(mid - cap, yy), (mid + cap, yy)],
                            whisker,
                        ))
                        .map_err(draw_error)?;
                    }
                }
                let mut title = format!(
                    "{}\n{}: {}\nmean = {}",
                    series.name, chart.y_label, category, bar.value
                );
                if let Some([low, high]) = bar.ci95
                    && low.is_finite()
                    && high.is_finite()
                {
                    title.push_str(&format!("\n95% CI = [{low}, {high}]"));
                }
                title.push_str(&format!("\nn = {}", bar.n));
                if let Some(note) = &bar.note {
                    title.push_str(&format!("\n{note}"));
                }
                let top = frame.y(bar
                    .ci95
                    .map_or(bar.value, |[_, high]| high.max(bar.value))
                    .min(frame.y_max));
                hits.push(Hit {
                    x: x0,
                    y: top.min(baseline),
                    width: x1 - x0 + 1,
                    height: (baseline.max(y) - top.min(baseline)).max(3),
                    title,
                    filter: bar.filter.clone(),
                });
            }
        }
        root.present().map_err(draw_error)?;
    }
    Ok(with_hits(svg, &hits))
}

fn render_histogram(chart: &Histogram, width: u32, height: u32) -> Result<String, ChartError> {
    let mut svg = String::new();
    let bins = chart.edges.len().saturating_sub(1);
    // Shares per series, so runs of different sizes compare.
    let shares: Vec<Vec<f64>> = chart
        .series
        .iter()
        .map(|s| {
            let total = s.counts.iter().sum::<u64>().max(1) as f64;
            s.counts.iter().map(|&c| c as f64 / total).collect()
        })
        .collect();
    let high = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let (w, h) = (width as i32, height as i32);
    let legend: Vec<String> = chart.series.iter().map(|s| s.name.clone()).collect();
    let colors = series_colors(legend.iter().map(String::as_str));
    let mut hits = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let frame = draw_frame(
            &root,
            &chart.title,
            "share of samples",
            &legend,
            (0.0, high * 1.08),
            (w, h),
        )?;
        let slot = f64::from(frame.plot_right() - LEFT) / bins as f64;
        let bar_width = slot * 0.9 / chart.series.len().max(1) as f64;
        let label_every = (bins / 10).max(1);
        for (b, edge) in chart.edges.iter().enumerate() {
            if b % label_every == 0 || b == bins {
                let x = (f64::from(LEFT) + slot * b as f64) as i32;
                let label = if edge.fract() == 0.0 {
                    format!("{edge:.0}")
                } else if (edge * 2.0).fract() == 0.0 && *edge > 1.0 {
                    format!("{edge:.1}")
                } else {
                    format!("{edge:.2}")
                };
                root.draw_text(
                    &label,
                    &style(SMALL_PX, &BLACK, HPos::Center, VPos::Top),
                    (x, frame.plot_bottom + 6),
                )
                .map_err(draw_error)?;
            }
        }
        root.draw_text(
            &short(&chart.x_label, 40),
            &style(TEXT_PX, &BLACK, HPos::Right, VPos::Top),
            (frame.plot_right(), frame.plot_bottom + 26),
        )
        .map_err(draw_error)?;
        for (s, series) in chart.series.iter().enumerate() {
            let color = colors[s];
            for b in 0..bins {
                let count = series.counts.get(b).copied().unwrap_or(0);
                let share = shares[s].get(b).copied().unwrap_or(0.0);
                let x0 =
                    (f64::from(LEFT) + slot * b as f64 + slot * 0.05 + bar_width * s as f64) as i32;
                let x1 = (x0 + bar_width as i32 - 1).max(x0 + 1);
                let y = frame.y(share);
                if count > 0 {
                    root.draw(&Rectangle::new(
                        [(x0, y), (x1, frame.plot_bottom)],
                        color.mix(0.85).filled(),
                    ))
                    .map_err(draw_error)?;
                }
                hits.push(Hit {
                    x: x0,
                    y: y.min(frame.plot_bottom - 3),
                    width: x1 - x0 + 1,
                    height: (frame.plot_bottom - y).max(3),
                    title: format!(
                        "{}\n{} in [{}, {}{}\n{count} samples ({:.1}%)",
                        series.name,
                        chart.x_label,
                        chart.edges[b],
                        chart.edges[b + 1],
                        if b + 1 == bins { "]" } else { ")" },
                        share * 100.0
                    ),
                    filter: series.filter.clone(),
                });
            }
        }
        root.present().map_err(draw_error)?;
    }
    Ok(with_hits(svg, &hits))
}

/// A deterministic spread in [-0.5, 0.5) for point `index` (the same every render).
fn jitter(index: usize) -> f64 {
    let mut z = (index as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// Formats an axis tick of a range with step `step`.
fn tick_label(tick: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{tick:.0}")
    } else {
        let decimals = (-step.log10().floor()) as usize;
        format!("{tick:.decimals$}")
    }
}

/// One point per sample: faint outside the chosen quadrant, solid inside it; each point is a
/// `<circle class="hit point">` with its exact values in a `<title>` and its sample in
/// `data-sample` (what clicking opens). The boundaries are dashed lines.
fn render_scatter(chart: &ScatterChart, width: u32, height: u32) -> Result<String, ChartError> {
    let mut svg = String::new();
    let (w, h) = (width as i32, height as i32);
    let [x_min, x_max] = chart.x_range;
    let [y_min, y_max] = chart.y_range;
    let plot_left = LEFT;
    let colors = series_colors(chart.series.iter().map(String::as_str));
    let mut points = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let frame = draw_frame(
            &root,
            &chart.title,
            &chart.y_label,
            &chart.series,
            (y_min, y_max),
            (w, h),
        )?;
        let span = (x_max - x_min).max(f64::MIN_POSITIVE);
        let x_of = |value: f64| {
            let fraction = ((value - x_min) / span).clamp(0.0, 1.0);
            plot_left + (fraction * f64::from(frame.plot_right() - plot_left)).round() as i32
        };
        let step = tick_step(span);
        let mut tick = (x_min / step).ceil() * step;
        while tick <= x_max + step * 1e-9 {
            root.draw_text(
                &tick_label(tick, step),
                &style(SMALL_PX, &BLACK, HPos::Center, VPos::Top),
                (x_of(tick), frame.plot_bottom + 6),
            )
            .map_err(draw_error)?;
            tick += step;
        }
        root.draw_text(
            &short(&chart.x_label, 60),
            &style(TEXT_PX, &BLACK, HPos::Right, VPos::Top),
            (frame.plot_right(), frame.plot_bottom + 26),
        )
        .map_err(draw_error)?;
        let dashed = |from: (i32, i32), to: (i32, i32), color: RGBColor| {
            // A dashed line as short segments (plotters' SVG backend has no dash style).
            let length = f64::from((to.0 - from.0).abs() + (to.1 - from.1).abs());
            let pieces = (length / 8.0).floor().max(1.0) as i32;
            let mut segments = Vec::new();
            for k in (0..pieces).step_by(2) {
                let at = |j: i32| {
                    (
                        from.0 + (to.0 - from.0) * j / pieces,
                        from.1 + (to.1 - from.1) * j / pieces,
                    )
                };
                segments.push(PathElement::new(
                    vec![at(k), at(k + 1)],
                    color.stroke_width(1),
                ));
            }
            segments
        };
        for &(series, x) in &chart.x_lines {
            let color = colors.get(series).copied().unwrap_or(PALETTE[0]);
            for segment in dashed((x_of(x), TOP), (x_of(x), frame.plot_bottom), color) {
                root.draw(&segment).map_err(draw_error)?;
            }
        }
        if let Some(y) = chart.y_line {
            let y = frame.y(y);
            for segment in dashed(
                (plot_left, y),
                (frame.plot_right(), y),
                RGBColor(90, 90, 90),
            ) {
                root.draw(&segment).map_err(draw_error)?;
            }
        }
        root.present().map_err(draw_error)?;
        // The points, written directly: thousands of them, each with its own title and data.
        let spread = if chart.jitter_y {
            0.5 * (y_max - y_min) / 20.0
        } else {
            0.0
        };
        for (index, point) in chart.points.iter().enumerate() {
            let color = colors.get(point.series).copied().unwrap_or(PALETTE[0]);
            let cx = x_of(point.x);
            let cy = frame.y(point.y + jitter(index) * spread);
            let (radius, opacity) = if point.selected {
                (3.5, 0.9)
            } else {
                (2.5, 0.3)
            };
            let series = chart.series.get(point.series).map_or("", String::as_str);
            points.push_str(&format!(
                "<circle class=\"hit point{}\" cx=\"{cx}\" cy=\"{cy}\" r=\"{radius}\" fill=\"#{:02x}{:02x}{:02x}\" fill-opacity=\"{opacity}\" data-sample=\"{}\"><title>{}</title></circle>\n",
                if point.selected { " selected" } else { "" },
                color.0,
                color.1,
                color.2,
                escape(&point.sample),
                escape(&format!(
                    "{series} {}\n{}: {}\n{}: {}",
                    point.sample, chart.x_label, point.x, chart.y_label, point.y
                ))
            ));
        }
    }
    match svg.rfind("</svg>") {
        Some(end) => svg.insert_str(end, &points),
        None => svg.push_str(&points),
    }
    Ok(svg)
}

/// Appends the hit areas just before `</svg>`, so they lie above everything plotters drew.
fn with_hits(mut svg: String, hits: &[Hit]) -> String {
    let overlay: String = hits.iter().map(Hit::svg).collect();
    match svg.rfind("</svg>") {
        Some(end) => svg.insert_str(end, &overlay),
        None => svg.push_str(&overlay),
    }
    svg
}

/// The class every chart's `<svg>` carries; [`DARK_THEME`] is scoped to it.
pub const CHART_CLASS: &str = "medhall-chart";

/// The dark theme, as CSS inside each chart: plotters writes fixed colours (white background,
/// black text, grey axes and grid), and these rules recolour exactly those when the system asks
/// for dark (`prefers-color-scheme`). Inside the SVG, so a chart follows the system alike in the
/// page, in an `?embed=` frame and as a file `medhall report` links; scoped to [`CHART_CLASS`]
/// because a `<style>` in an inline SVG applies to the whole document. The series colours
/// (Okabe and Ito's) are kept: they read on both backgrounds.
pub const DARK_THEME: &str = "@media (prefers-color-scheme: dark) {\
.medhall-chart rect[fill=\"#FFFFFF\"] { fill: #161b22; }\
.medhall-chart text[fill=\"#000000\"] { fill: #e6edf3; }\
.medhall-chart text[fill=\"#5A5A5A\"] { fill: #aab4bf; }\
.medhall-chart [stroke=\"#5A5A5A\"] { stroke: #8b949e; }\
.medhall-chart [stroke=\"#E1E4E8\"] { stroke: #30363d; }\
.medhall-chart [stroke=\"#000000\"] { stroke: #e6edf3; }\
.medhall-chart .hit:hover { fill: #fff; }\
}";

/// Marks the chart's root element with [`CHART_CLASS`] and puts [`DARK_THEME`] inside it.
fn themed(mut svg: String) -> String {
    if let Some(start) = svg.find("<svg") {
        let after_tag = start + "<svg".len();
        svg.insert_str(after_tag, &format!(" class=\"{CHART_CLASS}\""));
        if let Some(close) = svg[after_tag..].find('>') {
            svg.insert_str(
                after_tag + close + 1,
                &format!("\n<style>{DARK_THEME}</style>"),
            );
        }
    }
    svg
}

/// The chart as a standalone SVG document of `width` x `height` pixels; a spec with nothing to
/// draw ([`ChartSpec::is_empty`]) gives its title and "No data for this chart yet."
pub fn render_svg(spec: &ChartSpec, width: u32, height: u32) -> Result<String, ChartError> {
    if width < 200 || height < 150 {
        return Err(ChartError::TooSmall(width, height));
    }
    if spec.is_empty() {
        let mut svg = String::new();
        empty_chart(&mut svg, spec.title(), width, height)?;
        return Ok(themed(svg));
    }
    match spec {
        ChartSpec::Bars(chart) => render_bars(chart, width, height),
        ChartSpec::Histogram(chart) => render_histogram(chart, width, height),
        ChartSpec::Scatter(chart) => render_scatter(chart, width, height),
    }
    .map(themed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medhall_core::chart::{self, Bar, BarSeries, ChartKind, HistogramSeries, RunScores};
    use medhall_core::judge::JudgeScores;
    use medhall_core::metrics::lexical::LexicalScores;
    use medhall_core::sample::{SampleKey, Split};
    use medhall_core::stats::StatsConfig;
    use medhall_core::summary::{Metric, ScoredSample};

    const FIELD: &str = "hallucination_type";

    const EVIL: &str = "<img src=x onerror=alert(1)> & \"q\"";

    fn bar(value: f64, run: &str) -> Option<Bar> {
        Some(Bar {
            value,
            ci95: Some([value - 0.05, value + 0.05]),
            n: 10,
            note: Some("p = 0.5".to_owned()),
            filter: BarFilter {
                run: Some(run.to_owned()),
                split: Some(Split::Negative),
                field: Some("hallucination_type".to_owned()),
                value: Some("object manipulation".to_owned()),
            },
        })
    }

    fn bars() -> BarChart {
        BarChart {
            title: format!("meteor of {EVIL}"),
            y_label: "meteor".to_owned(),
            y_range: Some([0.0, 1.0]),
            categories: vec!["object manipulation".to_owned(), EVIL.to_owned()],
            series: vec![
                BarSeries {
                    name: EVIL.to_owned(),
                    bars: vec![bar(0.3, EVIL), bar(0.25, EVIL)],
                },
                BarSeries {
                    name: "model b".to_owned(),
                    bars: vec![bar(0.1234567890123, "model b"), None],
                },
            ],
        }
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).expect("well-formed SVG")
    }

    #[test]
    fn bars_have_hits_with_exact_values_and_escaped_text() {
        let svg = render_svg(&ChartSpec::Bars(bars()), 760, 420).expect("renders");
        assert!(!svg.contains("<img"), "user text must be escaped");
        let document = parse(&svg);
        let hits: Vec<_> = document
            .descendants()
            .filter(|n| n.attribute("class") == Some("hit"))
            .collect();
        assert_eq!(hits.len(), 3, "one per present bar");
        let titles: Vec<String> = hits
            .iter()
            .filter_map(|h| h.first_element_child())
            .filter_map(|t| t.text().map(str::to_owned))
            .collect();
        assert!(titles.iter().any(|t| t.contains("mean = 0.1234567890123")));
        assert!(
            titles
                .iter()
                .any(|t| t.contains("p = 0.5") && t.contains("n = 10"))
        );
        assert_eq!(hits[0].attribute("data-run"), Some(EVIL));
        assert_eq!(hits[0].attribute("data-split"), Some("negative"));
        // The labels survive as text (plotters escaped them).
        assert!(
            document
                .descendants()
                .any(|n| n.text().map(str::trim) == Some("model b"))
        );
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn scatter_points_carry_their_sample_and_exact_values() {
        use medhall_core::chart::ScatterPoint;
        let point = |x: f64, y: f64, sample: &str, selected: bool| ScatterPoint {
            x,
            y,
            series: usize::from(sample.starts_with("negative")),
            sample: sample.to_owned(),
            selected,
        };
        let spec = ChartSpec::Scatter(ScatterChart {
            title: "meteor against risk_level".to_owned(),
            x_label: "meteor".to_owned(),
            y_label: "risk_level".to_owned(),
            x_range: [0.0, 1.0],
            y_range: [0.0, 10.0],
            series: vec!["positive".to_owned(), EVIL.to_owned()],
            points: vec![
                point(0.9, 2.0, "negative:7", true),
                point(0.1, 8.0, "positive:3", false),
                point(0.5, 4.0, &format!("negative:{EVIL}"), false),
            ],
            x_lines: vec![(0, 0.4), (1, 0.3)],
            y_line: Some(4.0),
            jitter_y: true,
        });
        let svg = render_svg(&spec, 760, 420).expect("renders");
        let document = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let circles: Vec<_> = document
            .descendants()
            .filter(|n| n.tag_name().name() == "circle")
            .collect();
        assert_eq!(circles.len(), 3);
        assert_eq!(circles[0].attribute("data-sample"), Some("negative:7"));
        assert_eq!(circles[0].attribute("class"), Some("hit point selected"));
        assert_eq!(circles[1].attribute("class"), Some("hit point"));
        assert_eq!(
            circles[2].attribute("data-sample"),
            Some(format!("negative:{EVIL}").as_str())
        );
        let title = circles[0]
            .children()
            .find(|c| c.tag_name().name() == "title")
            .and_then(|c| c.text())
            .unwrap_or_default();
        assert!(
            title.contains("meteor: 0.9") && title.contains("risk_level: 2"),
            "{title}"
        );
        assert!(!svg.contains("<img"), "user text escaped");
        // The same points render at the same places every time (the spread is deterministic).
        assert_eq!(svg, render_svg(&spec, 760, 420).expect("renders"));
    }

    #[test]
    fn histograms_render_one_hit_per_bin_and_series() {
        let spec = ChartSpec::Histogram(Histogram {
            title: "Distribution".to_owned(),
            x_label: "meteor".to_owned(),
            edges: (0..=10).map(|i| f64::from(i) / 10.0).collect(),
            series: vec![
                HistogramSeries {
                    name: "a".to_owned(),
                    counts: vec![0, 1, 2, 3, 4, 5, 4, 3, 2, 1],
                    filter: BarFilter::default(),
                },
                HistogramSeries {
                    name: "b".to_owned(),
                    counts: vec![1; 10],
                    filter: BarFilter::default(),
                },
            ],
        });
        let svg = render_svg(&spec, 600, 300).expect("renders");
        let document = parse(&svg);
        let hits = document
            .descendants()
            .filter(|n| n.attribute("class") == Some("hit"))
            .count();
        assert_eq!(hits, 20);
        assert!(svg.contains("4 samples (16.0%)"), "4 of 25 samples");
    }

    #[test]
    fn empty_and_degenerate_specs_render_without_panic() {
        let empty = BarChart {
            title: "nothing".to_owned(),
            y_label: String::new(),
            y_range: None,
            categories: Vec::new(),
            series: Vec::new(),
        };
        let svg = render_svg(&ChartSpec::Bars(empty), 400, 200).expect("renders");
        assert!(svg.contains("No data"));
        parse(&svg);
        let mut weird = bars();
        weird.series[0].bars[0] = Some(Bar {
            value: f64::NAN,
            ci95: Some([f64::NEG_INFINITY, f64::INFINITY]),
            n: 0,
            note: None,
            filter: BarFilter::default(),
        });
        weird.y_range = None;
        let svg = render_svg(&ChartSpec::Bars(weird), 400, 200).expect("renders");
        parse(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(matches!(
            render_svg(&ChartSpec::Bars(bars()), 10, 10),
            Err(ChartError::TooSmall(10, 10))
        ));
    }

    #[test]
    fn negative_values_extend_the_axis_below_zero() {
        let mut chart = bars();
        chart.y_range = None;
        chart.series[1].bars[0] = bar(-0.2, "model b");
        let svg = render_svg(&ChartSpec::Bars(chart), 760, 420).expect("renders");
        parse(&svg);
        assert!(svg.contains("\n-0.2\n"), "a tick below zero");
        assert!(!svg.contains("-0.00"), "no negative zero");
    }

    #[test]
    fn tick_steps_are_nice() {
        assert_eq!(tick_step(1.0), 0.2);
        assert_eq!(tick_step(10.0), 2.0);
        assert_eq!(tick_step(0.37), 0.1);
    }

    fn scored(split: Split, id: u32, meteor: f64, judge: Option<f64>, kind: &str) -> ScoredSample {
        ScoredSample {
            key: SampleKey {
                split,
                question_id: id.to_string(),
            },
            question_id_is_integer: true,
            lexical: Some(LexicalScores {
                rouge1: meteor,
                rouge2: meteor,
                rouge_l: meteor,
                meteor,
                bleu: meteor,
            }),
            judge: judge.map(|j| JudgeScores::from_array([j; 4])),
            bertscore: None,
            fields: vec![("hallucination_type".to_owned(), kind.to_owned())],
        }
    }

    fn hits(svg: &str) -> Vec<(Option<String>, String)> {
        let document = parse(svg);
        document
            .descendants()
            .filter(|n| n.attribute("class") == Some("hit"))
            .map(|n| {
                let title = n
                    .first_element_child()
                    .and_then(|t| t.text())
                    .unwrap_or_default()
                    .to_owned();
                (n.attribute("data-run").map(str::to_owned), title)
            })
            .collect()
    }

    fn present(chart: &BarChart) -> usize {
        chart
            .series
            .iter()
            .flat_map(|s| s.bars.iter().flatten())
            .count()
    }

    /// Every `font-size` the SVG's text is written with, in SVG pixels.
    fn font_sizes(svg: &str) -> Vec<f64> {
        svg.split("font-size=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn every_chart_carries_the_dark_theme_for_the_colours_plotters_wrote() {
        let specs = [
            ChartSpec::Bars(bars()),
            ChartSpec::Bars(BarChart {
                series: Vec::new(),
                ..bars()
            }),
        ];
        for spec in &specs {
            let svg = render_svg(spec, 640, 360).expect("renders");
            let doc = parse(&svg);
            let root = doc.root_element();
            assert_eq!(root.attribute("class"), Some(CHART_CLASS));
            let style = root
                .children()
                .find(|n| n.has_tag_name("style"))
                .and_then(|n| n.text())
                .expect("a <style> inside the chart");
            assert!(style.contains("prefers-color-scheme: dark"));
            // Every fixed colour plotters wrote for the frame (background, text, axes, grid,
            // whiskers) has a dark rule; the series' own colours are left alone.
            for node in doc.descendants() {
                for (attribute, colours) in [
                    ("fill", ["#FFFFFF", "#000000", "#5A5A5A"].as_slice()),
                    ("stroke", ["#5A5A5A", "#E1E4E8", "#000000"].as_slice()),
                ] {
                    let Some(value) = node.attribute(attribute) else {
                        continue;
                    };
                    if colours.contains(&value) {
                        let kind = if attribute == "fill" && value != "#FFFFFF" {
                            "text"
                        } else if attribute == "fill" {
                            "rect"
                        } else {
                            ""
                        };
                        let rule = format!("{kind}[{attribute}=\"{value}\"]");
                        assert!(style.contains(&rule), "no dark rule for {rule}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_model_keeps_one_hue_and_its_negative_split_a_lighter_one() {
        let colors = series_colors([
            "m.positive.jsonl · positive",
            "m.negative.jsonl · negative",
            "other.positive.jsonl · positive",
        ]);
        assert_eq!(colors[0], PALETTE[0]);
        assert_ne!(colors[1], colors[0]);
        let RGBColor(r, g, b) = colors[1];
        let RGBColor(r0, g0, b0) = PALETTE[0];
        assert!(r >= r0 && g >= g0 && b >= b0, "lighter: {:?}", colors[1]);
        assert_eq!(colors[2], PALETTE[1], "the second model, the second hue");
    }

    #[test]
    fn every_chart_kind_renders_from_built_specs() {
        let a: Vec<ScoredSample> = (0..6)
            .flat_map(|i| {
                let kind = if i % 2 == 0 {
                    "object manipulation"
                } else {
                    EVIL
                };
                [
                    scored(
                        Split::Positive,
                        i,
                        0.5 + f64::from(i) / 20.0,
                        Some(8.0),
                        kind,
                    ),
                    scored(
                        Split::Negative,
                        i,
                        0.2 + f64::from(i) / 40.0,
                        Some(4.0),
                        kind,
                    ),
                ]
            })
            .collect();
        let b: Vec<ScoredSample> = a
            .iter()
            .filter(|s| s.key.split == Split::Positive)
            .map(|s| {
                scored(
                    s.key.split,
                    s.key.question_id.parse().unwrap_or(0),
                    0.3,
                    None,
                    "x",
                )
            })
            .collect();
        let runs = [
            RunScores {
                name: EVIL,
                samples: &a,
            },
            RunScores {
                name: "b",
                samples: &b,
            },
        ];
        let config = StatsConfig::default();
        let mut rendered = 0;
        for kind in ChartKind::ALL {
            let spec = match kind {
                ChartKind::ByType => {
                    ChartSpec::Bars(chart::by_type(&runs, Metric::Meteor, FIELD, &config))
                }
                ChartKind::Judge => ChartSpec::Bars(chart::judge_scores(&runs, &config)),
                ChartKind::Distribution => {
                    ChartSpec::Histogram(chart::distribution(&runs, Metric::Meteor, 10))
                }
                ChartKind::Gap => {
                    ChartSpec::Bars(chart::split_gap(&runs, Metric::Meteor, FIELD, &config))
                }
                ChartKind::Paired => ChartSpec::Bars(chart::paired_differences(
                    runs[0],
                    runs[1],
                    &Metric::ALL,
                    &config,
                )),
            };
            let svg = render_svg(&spec, 760, 420).expect("renders");
            assert!(!svg.contains("<img"), "{kind:?}: user text escaped");
            let sizes = font_sizes(&svg);
            assert!(!sizes.is_empty(), "{kind:?} has text");
            assert!(
                sizes.iter().all(|&px| px >= 12.0 - 1e-9),
                "{kind:?}: text below 12 px: {sizes:?}"
            );
            assert!(!svg.contains("NaN"), "{kind:?}");
            let hits = hits(&svg);
            let expected = match &spec {
                ChartSpec::Bars(chart) => present(chart),
                ChartSpec::Histogram(chart) => chart.series.len() * (chart.edges.len() - 1),
                ChartSpec::Scatter(chart) => chart.points.len(),
            };
            assert!(expected > 0, "{kind:?} has something to draw");
            assert_eq!(hits.len(), expected, "{kind:?}: one hit per bar");
            match (kind, &spec) {
                (ChartKind::ByType, ChartSpec::Bars(chart)) => {
                    // Series: (EVIL, positive), (EVIL, negative), (b, positive).
                    assert_eq!(chart.series.len(), 3);
                    let bar = chart.series[0].bars[0].as_ref().expect("first bar");
                    let title = &hits[0].1;
                    assert!(title.contains(&format!("mean = {}", bar.value)), "{title}");
                    let [low, high] = bar.ci95.expect("interval");
                    assert!(
                        title.contains(&format!("95% CI = [{low}, {high}]")),
                        "{title}"
                    );
                    assert!(title.contains(&format!("n = {}", bar.n)));
                    assert_eq!(hits[0].0.as_deref(), Some(EVIL));
                }
                (ChartKind::Judge, ChartSpec::Bars(chart)) => {
                    assert_eq!(chart.series.len(), 2, "b has no judge scores");
                    assert!(hits[0].1.contains("mean = 8"));
                }
                (ChartKind::Paired, ChartSpec::Bars(chart)) => {
                    assert_eq!(present(chart), 5, "five lexical metrics shared");
                    let bar = chart.series[0].bars[0].as_ref().expect("rouge1");
                    let note = bar.note.as_deref().expect("p-value note");
                    assert!(hits[0].1.contains(note) && note.contains("n = 6"));
                }
                _ => {}
            }
            rendered += 1;
        }
        assert_eq!(rendered, 5);
    }

    #[test]
    fn control_characters_in_user_text_keep_the_svg_well_formed() {
        let mut chart = bars();
        chart.title = "bell \u{7} title".to_owned();
        chart.series[1].name = "nul \u{0} run \u{ffff}".to_owned();
        chart.categories[0] = "tab\tand \u{1b}[31m".to_owned();
        chart.series[1].bars[0] = bar(0.4, "run \u{1}");
        let svg = render_svg(&ChartSpec::Bars(chart), 760, 420).expect("renders");
        parse(&svg);
        assert!(svg.contains("nul \u{fffd} run \u{fffd}"));
        assert_eq!(escape("a\u{0}b"), "a\u{fffd}b");
    }

    #[test]
    fn an_empty_built_spec_renders_its_empty_state() {
        let spec = ChartSpec::Histogram(chart::distribution(&[], Metric::Meteor, 10));
        let svg = render_svg(&spec, 400, 200).expect("renders");
        parse(&svg);
        assert!(svg.contains("No data") && svg.contains("Distribution of meteor"));
        assert!(hits(&svg).is_empty());
    }
}
