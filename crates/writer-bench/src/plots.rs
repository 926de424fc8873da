//! SVG charts of a bench run, and the README's performance section, both
//! from the same measured runs as the tables (`--save`).
//!
//! Charts are drawn with `plotters`' SVG backend alone: text goes into the
//! SVG as `<text>` elements, so no font or C library is needed here.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::child::Kind;
use crate::report::{Results, creates_alone_secs, duration, memory_ratio, thousands};
use crate::scenarios::{Load, Measured};

const SIZE: (u32, u32) = (760, 440);
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

/// Writes every chart whose runs are in `results` into `dir`; returns the
/// files written.
pub fn write_all(results: &Results, dir: &Path) -> Res<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut chart = |name: &str, draw: &dyn Fn(&DrawingArea<SVGBackend, Shift>) -> Res<bool>| {
        let path = dir.join(name);
        let drawn = {
            let root = SVGBackend::new(&path, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let drawn = draw(&root)?;
            root.present().map_err(err)?;
            drawn
        };
        if drawn {
            written.push(path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
        Ok::<(), String>(())
    };
    chart("requests_per_job.svg", &|root| {
        requests_per_job(root, results)
    })?;
    chart("delay_vs_requests.svg", &|root| {
        delay_vs_requests(root, results)
    })?;
    chart("quota_finish.svg", &|root| quota_finish(root, results))?;
    chart("delays.svg", &|root| delays(root, results))?;
    chart("rss.svg", &|root| rss(root, results))?;
    Ok(written)
}

fn series_style(i: usize) -> ShapeStyle {
    COLORS[i % COLORS.len()].stroke_width(2)
}

/// Requests per job by rows: the batch (empty and busy application) and
/// the naive loops, log scales.
fn requests_per_job(root: &DrawingArea<SVGBackend, Shift>, r: &Results) -> Res<bool> {
    let runs = &r.comparison;
    if runs.is_empty() {
        return Ok(false);
    }
    let groups: Vec<(String, Vec<(f64, f64)>)> = [
        (Kind::Batch, Load::Empty),
        (Kind::Batch, Load::Busy),
        (Kind::Naive5, Load::Empty),
        (Kind::Naive1, Load::Empty),
    ]
    .iter()
    .map(|&(kind, load)| {
        let points = runs
            .iter()
            .filter(|m| m.kind == kind && m.load == load)
            .map(|m| (m.rows as f64, m.requests_per_job()))
            .collect::<Vec<_>>();
        (
            format!("{}, {} application", kind.label(), load.label()),
            points,
        )
    })
    .filter(|(_, p)| !p.is_empty())
    .collect();
    let xs: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.1.iter().map(|p| p.0))
        .collect();
    let ys: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.1.iter().map(|p| p.1))
        .collect();
    let (x0, x1) = bounds(&xs);
    // Room above the highest point for the legend.
    let y1 = ys.iter().copied().fold(1.0, f64::max) * 6.0;
    let mut chart = ChartBuilder::on(root)
        .caption("Requests per job by rows (log scales)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((x0 * 0.7..x1 * 1.4).log_scale(), (0.9f64..y1).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("rows")
        .x_labels(4)
        .y_desc("requests per job")
        .x_label_formatter(&|x| thousands(x.round() as u64))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()
        .map_err(err)?;
    for (i, (label, points)) in groups.iter().enumerate() {
        let style = series_style(i);
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))
            .map_err(err)?;
    }
    legend(&mut chart)?;
    Ok(true)
}

/// Requests per job against the p95 result delay: each poll-overhead run
/// as a point, the computed floor as a curve.
fn delay_vs_requests(root: &DrawingArea<SVGBackend, Shift>, r: &Results) -> Res<bool> {
    let runs = &r.overhead;
    let Some(base) = runs.iter().find(|m| m.poll_overhead.is_none()) else {
        return Ok(false);
    };
    let floor: Vec<(f64, f64)> = (4..=50)
        .map(|i| f64::from(i) * 0.5)
        .filter_map(|d| base.sweep_jobs.floor(d).map(|f| (d, f.requests_per_job)))
        .collect();
    let points: Vec<(f64, f64, String)> = runs
        .iter()
        .filter_map(|m| {
            let label = format!(
                "{}{}",
                m.poll_overhead
                    .map(|o| format!("{o}"))
                    .unwrap_or_else(|| "default".into()),
                m.poll_max_interval_secs
                    .map(|s| format!(", max {s:.0} s"))
                    .unwrap_or_default()
            );
            m.delay(95.0).map(|d| (d, m.requests_per_job(), label))
        })
        .collect();
    let ys: Vec<f64> = floor
        .iter()
        .map(|p| p.1)
        .chain(points.iter().map(|p| p.1))
        .collect();
    let y0 = ys.iter().copied().fold(f64::INFINITY, f64::min).min(1.0);
    let y1 = ys.iter().copied().fold(1.0, f64::max).min(1.6);
    let x1 = points.iter().map(|p| p.0).fold(25.0, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Requests per job vs p95 result delay ({} rows, empty app)",
                thousands(base.rows)
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..x1, (y0 - 0.01)..(y1 + 0.02))
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("p95 delay from a job's finish to its result (s)")
        .y_desc("requests per job")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(err)?;
    let style = series_style(5);
    chart
        .draw_series(LineSeries::new(floor, style))
        .map_err(err)?
        .label("computed floor (sweeps covering every running job)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    let style = series_style(0);
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.0, p.1), 4, style.filled())),
        )
        .map_err(err)?
        .label("the batch, by poll overhead (and max sweep gap)")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, style.filled()));
    chart
        .draw_series(points.iter().map(|p| {
            Text::new(
                p.2.clone(),
                (p.0, p.1),
                ("sans-serif", 12).into_font().color(&BLACK),
            )
        }))
        .map_err(err)?;
    for (target_delay, target_rpj) in [(10.0, 1.10), (15.0, 1.05)] {
        let style = series_style(1);
        chart
            .draw_series(std::iter::once(Cross::new(
                (target_delay, target_rpj),
                6,
                style,
            )))
            .map_err(err)?;
    }
    chart
        .draw_series(std::iter::once(Text::new(
            "x = issue 18's targets",
            (0.5, y0 - 0.005),
            ("sans-serif", 12).into_font().color(&COLORS[1]),
        )))
        .map_err(err)?;
    legend_at(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(true)
}

/// Finish time under the quota over the ideal client's, per run.
fn quota_finish(root: &DrawingArea<SVGBackend, Shift>, r: &Results) -> Res<bool> {
    let mut bars: Vec<(String, f64, f64)> = Vec::new();
    for m in &r.quota {
        let in_flight = m
            .max_in_flight
            .map(|n| format!("{n} in flight"))
            .unwrap_or_else(|| "default".into());
        bars.push((
            format!("empty, {in_flight}"),
            m.wall_secs / 60.0,
            m.quota_ideal_secs / 60.0,
        ));
    }
    for m in &r.busy_quota {
        let budget = m
            .rate_per_minute
            .map(|r| format!("budget {r:.0}/min"))
            .unwrap_or_else(|| "no budget".into());
        bars.push((
            format!("busy, {budget}"),
            m.wall_secs / 60.0,
            m.quota_ideal_secs / 60.0,
        ));
    }
    if bars.is_empty() {
        return Ok(false);
    }
    let n = bars.len();
    let y1 = bars.iter().map(|b| b.1.max(b.2)).fold(0.0, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Finish time at 400 requests/min vs the ideal client",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..n as f64, 0f64..y1)
        .map_err(err)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("minutes (simulated)")
        .draw()
        .map_err(err)?;
    let measured = COLORS[0];
    let ideal = COLORS[5];
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new([(x + 0.15, 0.0), (x + 0.5, b.1)], measured.filled())
        }))
        .map_err(err)?
        .label("last result (the batch)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], measured.filled()));
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new([(x + 0.5, 0.0), (x + 0.85, b.2)], ideal.filled())
        }))
        .map_err(err)?
        .label("ideal: a create every 0.15 s, nothing else")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], ideal.filled()));
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            Text::new(
                format!("{:.2}x", b.1 / b.2),
                (i as f64 + 0.2, b.1.max(b.2) + y1 * 0.03),
                ("sans-serif", 13).into_font().color(&BLACK),
            )
        }))
        .map_err(err)?;
    legend(&mut chart)?;
    Ok(true)
}

/// The distribution of result delays (share of jobs seen within x).
fn delays(root: &DrawingArea<SVGBackend, Shift>, r: &Results) -> Res<bool> {
    // 1,000 rows, or the largest size every client ran at.
    let sizes = |kind: Kind| -> Vec<u64> {
        r.comparison
            .iter()
            .filter(|m| m.kind == kind && m.load == Load::Empty)
            .map(|m| m.rows)
            .collect()
    };
    let naive = sizes(Kind::Naive1);
    let rows = sizes(Kind::Batch)
        .into_iter()
        .filter(|n| naive.is_empty() || naive.contains(n))
        .min_by_key(|n| n.abs_diff(1_000));
    let Some(rows) = rows else {
        return Ok(false);
    };
    let runs: Vec<&Measured> = r
        .comparison
        .iter()
        .filter(|m| m.load == Load::Empty && m.rows == rows && !m.delays.is_empty())
        .collect();
    if runs.is_empty() {
        return Ok(false);
    }
    let x1 = runs
        .iter()
        .flat_map(|m| m.delays.last().copied())
        .fold(1.0, f64::max)
        .min(60.0);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Result delay: share of jobs seen within x ({} rows, empty app)",
                thousands(rows)
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..x1 * 1.05, 0f64..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("delay from the job's finish to its result (s, simulated)")
        .y_desc("share of jobs")
        .draw()
        .map_err(err)?;
    for (i, m) in runs.iter().enumerate() {
        let n = m.delays.len() as f64;
        let points: Vec<(f64, f64)> = m
            .delays
            .iter()
            .enumerate()
            .map(|(k, &d)| (d.min(x1), (k + 1) as f64 / n))
            .collect();
        let style = series_style(i);
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(err)?
            .label(m.kind.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    legend_at(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(true)
}

/// Peak RSS by rows streamed through the batch.
fn rss(root: &DrawingArea<SVGBackend, Shift>, r: &Results) -> Res<bool> {
    let points: Vec<(f64, f64)> = r
        .memory
        .iter()
        .map(|m| (m.rows as f64, m.peak_rss_kib as f64 / 1024.0))
        .collect();
    if points.is_empty() {
        return Ok(false);
    }
    let (x0, x1) = bounds(&points.iter().map(|p| p.0).collect::<Vec<_>>());
    let y1 = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.3;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Client peak RSS by rows (fresh process each)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((x0 * 0.7..x1 * 1.4).log_scale(), 0f64..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("rows (log scale)")
        .x_labels(4)
        .y_desc("peak RSS (MiB)")
        .x_label_formatter(&|x| thousands(x.round() as u64))
        .draw()
        .map_err(err)?;
    let style = series_style(0);
    chart
        .draw_series(LineSeries::new(points.clone(), style))
        .map_err(err)?
        .label("writer-jobs batch")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))
        .map_err(err)?;
    legend(&mut chart)?;
    Ok(true)
}

fn legend<'a, X, Y>(chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>) -> Res<()>
where
    X: Ranged,
    Y: Ranged,
{
    legend_at(chart, SeriesLabelPosition::UpperLeft)
}

fn legend_at<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Res<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)
}

fn bounds(xs: &[f64]) -> (f64, f64) {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0, f64::max);
    if lo.is_finite() && lo > 0.0 {
        (lo, hi.max(lo))
    } else {
        (1.0, hi.max(1.0))
    }
}

/// The README's performance section (from `## Performance` to the next
/// `## `), rewritten from a full run; `false` (README untouched) when a
/// part it quotes was not run.
pub fn update_readme(path: &Path, r: &Results) -> Res<bool> {
    let Some(section) = performance_section(r) else {
        return Ok(false);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let Some(start) = text.find("\n## Performance\n") else {
        return Ok(false);
    };
    let start = start + 1;
    let end = text[start + 3..]
        .find("\n## ")
        .map(|i| start + 3 + i + 1)
        .unwrap_or(text.len());
    let updated = format!("{}{}{}", &text[..start], section, &text[end..]);
    if updated != text {
        std::fs::write(path, updated)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(true)
}

fn performance_section(r: &Results) -> Option<String> {
    let batch = |rows: u64, load: Load| {
        r.comparison
            .iter()
            .find(|m| m.kind == Kind::Batch && m.rows == rows && m.load == load)
    };
    let naive = r
        .comparison
        .iter()
        .find(|m| m.kind == Kind::Naive1 && m.rows == 1_000 && m.load == Load::Empty)?;
    let b1k = batch(1_000, Load::Empty)?;
    let b10k = batch(10_000, Load::Empty)?;
    let quota = r.quota.iter().find(|m| m.max_in_flight.is_none())?;
    let budget = r.busy_quota.iter().find(|m| m.rate_per_minute.is_some())?;
    let learned = r.busy_quota.iter().find(|m| m.rate_per_minute.is_none())?;
    let biggest = r.memory.last()?;
    let ratio = memory_ratio(&r.memory)?;
    let row = |m: &Measured| {
        format!(
            "| {} | {} | {:.2} | {} | {} | {:.0} µs | {:.1} MiB |\n",
            m.kind.label(),
            thousands(m.rows),
            m.requests_per_job(),
            m.delay(95.0)
                .map(|d| format!("{d:.1} s"))
                .unwrap_or("-".into()),
            duration(m.quota_wall_secs()),
            m.cpu_secs * 1e6 / m.rows.max(1) as f64,
            m.peak_rss_kib as f64 / 1024.0,
        )
    };
    let floor = |d: f64| {
        b1k.sweep_jobs
            .floor(d)
            .map(|f| format!("{:.3}", f.requests_per_job))
            .unwrap_or_else(|| "-".into())
    };
    let p95 = b1k.delay(95.0).unwrap_or(0.0);
    let mut s = String::from("## Performance\n\n");
    s += "From `cargo xtask bench --save` (full tables in [`bench/results.md`](bench/results.md); \
          this section and the charts below are written by the same run): a batch against the \
          simulator, log-normal jobs with a 30 s mean, 100 in flight, requests counted by the \
          simulator, every row completed.\n\n";
    s += "| client | rows | requests/job | p95 delay to result | time at 400 requests/min | client CPU/job | peak RSS |\n";
    s += "|---|---|---|---|---|---|---|\n";
    s += &row(b1k);
    s += &row(b10k);
    s += &row(naive);
    s += &format!(
        "\nHow few requests can a sweeping client spend for a given delay? At each sweep it must look at \
         every job of its own still running, so a list page (100 jobs) is read once per sweep for as long \
         as any job on it runs. Played on the 1,000-row run's own jobs, the floor is {} requests/job for a \
         p95 delay within 10 s, {} within 15 s and {} at the measured {p95:.1} s, against the batch's {:.3} \
         (`Batch::poll_overhead` and the poll policy's maximum interval set the trade; see the chart).\n\n",
        floor(10.0),
        floor(15.0),
        floor(p95),
        b1k.requests_per_job(),
    );
    s += &format!(
        "Held to 400 requests a minute with default flags, 1,000 rows finish {:.2}x after the ideal client \
         (one create every 0.15 s and nothing else; its creates alone take {}). On a busy application under \
         that quota: {:.2} requests/job told the budget (`--rate 400/min`), {:.2} when it learns the limit \
         from 429s ({} answered 429). Memory stays flat as rows grow ({:.1} MiB peak at {} rows, {ratio:.2}x \
         the {}-row figure).\n\n",
        quota.wall_secs / quota.quota_ideal_secs,
        duration(creates_alone_secs(quota.rows)),
        budget.requests_per_job(),
        learned.requests_per_job(),
        thousands(learned.stats.status(429)),
        biggest.peak_rss_kib as f64 / 1024.0,
        thousands(biggest.rows),
        thousands(r.memory[0].rows),
    );
    s += "![Requests per job by rows](bench/requests_per_job.svg)\n\n";
    s += "![Requests per job vs p95 result delay, with the computed floor](bench/delay_vs_requests.svg)\n\n";
    s += "![Finish time under the quota vs the ideal client](bench/quota_finish.svg)\n\n";
    s += "![Result delay distribution](bench/delays.svg)\n\n";
    s += "![Peak RSS by rows](bench/rss.svg)\n\n";
    Some(s)
}
