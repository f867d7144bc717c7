//! PNG charts for the weekly marketer digest email.
//!
//! The digest embeds its charts inline (as `cid:` attachments), so each chart is
//! rendered straight to PNG bytes in memory: no temporary files, no browser and
//! no JavaScript, which mail clients would not run anyway.
//!
//! Text is drawn with `plotters`' `ab_glyph` backend and a DejaVu Sans font that
//! is compiled into the binary (from the `dejavu` crate), because the machines
//! that send mail — and CI — may have no system fonts or fontconfig at all, and
//! a chart whose labels silently vanish is worse than no chart.

use std::sync::OnceLock;

use super::group_thousands;
use anyhow::{Context, Result, ensure};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// Pixel size (width, height) of [`lifecycle_funnel`]'s image, so the email
/// template can give the `<img>` tag its size before the image loads.
pub const FUNNEL_SIZE: (u32, u32) = (600, 320);

/// Pixel size (width, height) of [`rfm_heat_map`]'s image, for the same reason.
pub const HEAT_MAP_SIZE: (u32, u32) = (420, 380);

/// The font family every text style here asks for. It is also the family
/// `plotters` uses by default for mesh labels, so registering the embedded font
/// under this name covers the labels we don't style ourselves.
const FONT: &str = "sans-serif";

/// Plain text colour: a dark slate that reads well on white in both light and
/// dark mail client themes (which keep images as they are).
const INK: RGBColor = RGBColor(33, 41, 52);

/// Colour of the light end of the heat map scale: a zero cell is still visibly a
/// cell, so the 5x5 grid reads as a grid even when it is empty.
const HEAT_LOW: (f64, f64, f64) = (239.0, 243.0, 255.0);

/// Colour of the dark end of the heat map scale (the busiest cell).
const HEAT_HIGH: (f64, f64, f64) = (8.0, 48.0, 107.0);

/// Registers the embedded DejaVu Sans with `plotters` once per process.
///
/// The `ab_glyph` backend only knows fonts registered by name, and registering
/// takes a write lock on a global table, so it is done once and its outcome
/// remembered rather than repeated for every chart.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    ensure!(ok, "the embedded DejaVu Sans font could not be parsed");
    Ok(())
}

/// Draws onto an in-memory RGB canvas of `size` with `draw`, then encodes the
/// canvas as PNG.
///
/// `BitMapBackend::with_buffer` is used instead of a file path so that nothing
/// touches the disk and `plotters` needs none of its image-encoder features; the
/// `png` crate does the encoding.
fn render_png(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    ensure_font()?;
    let (width, height) = size;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).context("filling the chart background")?;
        draw(&root)?;
        root.present().context("flushing the chart canvas")?;
    }
    encode_png(&rgb, width, height)
}

/// Encodes 8-bit RGB pixels as a PNG file in memory.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Charts are flat colour areas that compress very well; the stronger level
    // keeps the email smaller at a cost of milliseconds once a week.
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer
        .write_image_data(rgb)
        .context("writing the PNG pixel data")?;
    writer.finish().context("finishing the PNG file")?;
    Ok(out)
}

/// Bar colour of a lifecycle stage.
///
/// The known stages get colours that carry meaning (growing stages in blues and
/// greens, the ones that need attention in amber and red), so a marketer sees
/// where the trouble is before reading a number. Any other stage name falls back
/// to a neutral colour by position, so a new stage still draws.
fn stage_color(name: &str, index: usize) -> RGBColor {
    const FALLBACK: [RGBColor; 4] = [
        RGBColor(99, 110, 250),
        RGBColor(0, 150, 136),
        RGBColor(171, 99, 250),
        RGBColor(120, 144, 156),
    ];
    match name.trim().to_ascii_lowercase().as_str() {
        "prospect" => RGBColor(144, 164, 174),
        "new" => RGBColor(66, 165, 245),
        "active" => RGBColor(30, 136, 229),
        "loyal" => RGBColor(67, 160, 71),
        "silent" => RGBColor(251, 140, 0),
        "churned" => RGBColor(229, 57, 53),
        _ => FALLBACK[index % FALLBACK.len()],
    }
}

/// A bar chart of customers per lifecycle stage (a funnel: prospect, new,
/// active, loyal, silent, churned), PNG bytes of [`FUNNEL_SIZE`].
///
/// Bars keep the order of `stages`, because the caller knows the funnel order and
/// a sorted chart would hide where customers drop out. Each bar carries its
/// stage name below and its count above, so the chart still reads when the mail
/// client shrinks it. All-zero counts (or no stages) still draw a valid, empty
/// chart: the count axis always spans at least 0..4, so it never has zero range.
pub fn lifecycle_funnel(stages: &[(&str, u64)], title: &str) -> Result<Vec<u8>> {
    render_png(FUNNEL_SIZE, |root| {
        draw_funnel(root, stages, title).context("drawing the lifecycle funnel chart")
    })
}

fn draw_funnel(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    stages: &[(&str, u64)],
    title: &str,
) -> Result<()> {
    // One segment per stage, but at least two: `plotters` maps everything on a
    // one-value range to its middle, which would squash a lone bar to nothing.
    // (So a single stage, or none, takes the left half of the chart.)
    let segments = stages.len().max(2);
    // Segmented integer ranges include their end (0..n makes n + 1 segments),
    // so the range ends at the last segment's index.
    let last = segments - 1;
    let max = stages.iter().map(|&(_, n)| n).max().unwrap_or(0);
    // Headroom above the tallest bar for its count label; never below 4 so the
    // axis of an all-zero chart has a range and a few sensible ticks.
    let top = max.saturating_add(max / 6).saturating_add(1).max(4);

    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d((0..last).into_segmented(), 0u64..top)?;

    let label_for = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => stages
            .get(*i)
            .map(|&(name, _)| name.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(segments)
        .x_label_formatter(&label_for)
        .y_labels(5)
        .y_label_formatter(&|v: &u64| group_thousands(*v))
        .x_label_style((FONT, 14).into_font().color(&INK))
        .y_label_style((FONT, 12).into_font().color(&INK))
        .axis_style(INK.mix(0.6))
        .light_line_style(INK.mix(0.06))
        .bold_line_style(INK.mix(0.12))
        .draw()?;

    // Gap between bars: a fraction of each segment's pixel width, so the bars
    // stay separate however many stages there are.
    let plot_width = chart.plotting_area().dim_in_pixel().0;
    let gap = (plot_width / (segments as u32 * 6)).max(2);

    chart.draw_series(stages.iter().enumerate().map(|(i, &(name, n))| {
        let mut bar = Rectangle::new(
            [(SegmentValue::Exact(i), 0), (SegmentValue::Exact(i + 1), n)],
            stage_color(name, i).filled(),
        );
        bar.set_margin(0, 0, gap, gap);
        bar
    }))?;

    let count_style = (FONT, 14)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(stages.iter().enumerate().map(|(i, &(_, n))| {
        // Offset a few pixels up so the count sits above the bar, not on it.
        EmptyElement::at((SegmentValue::CenterOf(i), n))
            + Text::new(group_thousands(n), (0, -4), count_style.clone())
    }))?;

    if max == 0 {
        // Say so, rather than leave the marketer wondering if the chart broke.
        let note = (FONT, 14)
            .into_font()
            .color(&INK.mix(0.6))
            .pos(Pos::new(HPos::Center, VPos::Center));
        // Centred on the plot in pixels, not on a stage, so it sits in the
        // middle whatever the number of stages.
        let plot = chart.plotting_area();
        let (w, h) = plot.dim_in_pixel();
        let (x0, y0) = plot.get_base_pixel();
        root.draw(&Text::new(
            "No customers in any stage yet",
            (x0 + w as i32 / 2, y0 + h as i32 / 2),
            note,
        ))?;
    }
    Ok(())
}

/// A 5x5 RFM heat map, PNG bytes of [`HEAT_MAP_SIZE`]: `cells[r][f]` = number
/// of customers with recency score `r + 1` and frequency score `f + 1`.
///
/// Recency runs up the side (R1 at the bottom, R5 at the top) and frequency
/// along the bottom (F1 to F5), so the best customers gather in the top right
/// corner, as on the usual RFM grid marketers know. Each cell shows its count,
/// and the colour scale is relative to the busiest cell so the picture shows
/// where customers are, whatever the size of the base. All-zero cells draw the
/// empty grid with zeros.
pub fn rfm_heat_map(cells: &[[u64; 5]; 5], title: &str) -> Result<Vec<u8>> {
    render_png(HEAT_MAP_SIZE, |root| {
        draw_heat_map(root, cells, title).context("drawing the RFM heat map")
    })
}

/// Colour of a heat map cell holding `share` (0..=1) of the busiest cell's
/// count, and the text colour that stays readable on it.
fn heat_colors(share: f64) -> (RGBColor, RGBColor) {
    let t = share.clamp(0.0, 1.0);
    let mix = |lo: f64, hi: f64| (lo + (hi - lo) * t).round() as u8;
    let fill = RGBColor(
        mix(HEAT_LOW.0, HEAT_HIGH.0),
        mix(HEAT_LOW.1, HEAT_HIGH.1),
        mix(HEAT_LOW.2, HEAT_HIGH.2),
    );
    let text = if t > 0.5 { WHITE } else { INK };
    (fill, text)
}

fn draw_heat_map(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    cells: &[[u64; 5]; 5],
    title: &str,
) -> Result<()> {
    let max = cells.iter().flatten().copied().max().unwrap_or(0);

    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        // 0..4 is five segments: segmented integer ranges include their end.
        .build_cartesian_2d((0..4usize).into_segmented(), (0..4usize).into_segmented())?;

    let score_label = |prefix: &'static str| {
        move |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < 5 => format!("{prefix}{}", i + 1),
            _ => String::new(),
        }
    };
    let f_label = score_label("F");
    let r_label = score_label("R");
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&f_label)
        .y_label_formatter(&r_label)
        .x_label_style((FONT, 14).into_font().color(&INK))
        .y_label_style((FONT, 14).into_font().color(&INK))
        .x_desc("Frequency score")
        .y_desc("Recency score")
        .axis_desc_style((FONT, 13).into_font().color(&INK.mix(0.75)))
        .axis_style(INK.mix(0.6))
        .draw()?;

    let share = |n: u64| {
        if max == 0 { 0.0 } else { n as f64 / max as f64 }
    };
    let all_cells = || {
        cells
            .iter()
            .enumerate()
            .flat_map(|(r, row)| row.iter().enumerate().map(move |(f, &n)| (r, f, n)))
    };

    chart.draw_series(all_cells().map(|(r, f, n)| {
        let mut cell = Rectangle::new(
            [
                (SegmentValue::Exact(f), SegmentValue::Exact(r)),
                (SegmentValue::Exact(f + 1), SegmentValue::Exact(r + 1)),
            ],
            heat_colors(share(n)).0.filled(),
        );
        // A thin white gutter between cells keeps neighbouring similar shades apart.
        cell.set_margin(1, 1, 1, 1);
        cell
    }))?;

    chart.draw_series(all_cells().map(|(r, f, n)| {
        let style = (FONT, 15)
            .into_font()
            .color(&heat_colors(share(n)).1)
            .pos(Pos::new(HPos::Center, VPos::Center));
        Text::new(
            group_thousands(n),
            (SegmentValue::CenterOf(f), SegmentValue::CenterOf(r)),
            style,
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// Width and height from the IHDR chunk, which the PNG format requires to
    /// come first, right after the signature.
    fn header_size(png: &[u8]) -> (u32, u32) {
        assert!(png.len() > 33, "too short for a PNG: {} bytes", png.len());
        assert_eq!(png[..8], PNG_SIGNATURE, "PNG signature");
        assert_eq!(&png[12..16], b"IHDR", "first chunk must be IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&png[16..20]), be(&png[20..24]))
    }

    /// Decodes the PNG fully (which also checks its CRCs and zlib stream) and
    /// returns how many distinct RGB colours it has.
    fn distinct_colors(png_bytes: &[u8]) -> usize {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let pixels = &buf[..info.buffer_size()];
        let mut colors: Vec<[u8; 3]> = pixels.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        colors.sort_unstable();
        colors.dedup();
        colors.len()
    }

    /// Something beyond a blank canvas was drawn. Anti-aliased text alone gives
    /// dozens of grey levels, so a handful of colours would mean labels vanished.
    fn assert_drawn(png_bytes: &[u8]) {
        let n = distinct_colors(png_bytes);
        assert!(n > 10, "only {n} distinct colours: was anything drawn?");
    }

    fn funnel_stages() -> Vec<(&'static str, u64)> {
        vec![
            ("prospect", 12_400),
            ("new", 3_150),
            ("active", 8_020),
            ("loyal", 2_210),
            ("silent", 1_480),
            ("churned", 960),
        ]
    }

    #[test]
    fn funnel_is_a_png_of_the_stated_size() {
        let png = lifecycle_funnel(&funnel_stages(), "Customers by lifecycle stage").unwrap();
        assert_eq!(header_size(&png), FUNNEL_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn funnel_with_all_zero_counts_still_draws() {
        let stages: Vec<(&str, u64)> = funnel_stages().iter().map(|&(s, _)| (s, 0)).collect();
        let png = lifecycle_funnel(&stages, "Customers by lifecycle stage").unwrap();
        assert_eq!(header_size(&png), FUNNEL_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn funnel_with_no_stages_still_draws() {
        let png = lifecycle_funnel(&[], "Customers by lifecycle stage").unwrap();
        assert_eq!(header_size(&png), FUNNEL_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn funnel_with_a_single_stage_still_draws() {
        let png = lifecycle_funnel(&[("active", 42)], "Active customers").unwrap();
        assert_eq!(header_size(&png), FUNNEL_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn funnel_survives_huge_counts() {
        let png = lifecycle_funnel(&[("loyal", u64::MAX), ("new", 1)], "Big").unwrap();
        assert_eq!(header_size(&png), FUNNEL_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn heat_map_is_a_png_of_the_stated_size() {
        let mut cells = [[0u64; 5]; 5];
        for (r, row) in cells.iter_mut().enumerate() {
            for (f, cell) in row.iter_mut().enumerate() {
                *cell = ((r + 1) * (f + 2) * 37 % 500) as u64;
            }
        }
        let png = rfm_heat_map(&cells, "Customers by recency and frequency").unwrap();
        assert_eq!(header_size(&png), HEAT_MAP_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn heat_map_with_all_zero_cells_still_draws() {
        let png = rfm_heat_map(&[[0; 5]; 5], "Customers by recency and frequency").unwrap();
        assert_eq!(header_size(&png), HEAT_MAP_SIZE);
        assert_drawn(&png);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(12_345_678), "12,345,678");
    }

    /// Writes the charts to $CHART_PREVIEW_DIR for a person to look at; does
    /// nothing unless that variable is set.
    #[test]
    fn write_previews_when_asked() {
        let Some(dir) = std::env::var_os("CHART_PREVIEW_DIR") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        let mut cells = [[0u64; 5]; 5];
        for (r, row) in cells.iter_mut().enumerate() {
            for (f, cell) in row.iter_mut().enumerate() {
                *cell = ((r + 1) * (f + 2) * 37 % 500) as u64 * 7;
            }
        }
        let files = [
            (
                "funnel.png",
                lifecycle_funnel(&funnel_stages(), "Customers by lifecycle stage"),
            ),
            (
                "funnel_zero.png",
                lifecycle_funnel(
                    &[
                        ("prospect", 0),
                        ("new", 0),
                        ("active", 0),
                        ("loyal", 0),
                        ("silent", 0),
                        ("churned", 0),
                    ],
                    "Customers by lifecycle stage",
                ),
            ),
            ("funnel_empty.png", lifecycle_funnel(&[], "No stages")),
            (
                "funnel_one.png",
                lifecycle_funnel(&[("active", 42)], "One stage"),
            ),
            (
                "heat.png",
                rfm_heat_map(&cells, "Customers by recency and frequency"),
            ),
            (
                "heat_zero.png",
                rfm_heat_map(&[[0; 5]; 5], "Customers by recency and frequency"),
            ),
        ];
        for (name, png) in files {
            std::fs::write(dir.join(name), png.unwrap()).unwrap();
        }
    }
}
