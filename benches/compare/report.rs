//! Collected results and the markdown table.

use std::fmt::Write as _;

use crate::common::{Skip, Summary};

/// One line of the table.
#[derive(Debug, Clone)]
pub struct RowDef {
    pub label: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

impl RowDef {
    pub fn new(label: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Self {
        RowDef { label: label.into(), unit, higher_is_better }
    }
}

/// Everything measured for one row and one system.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub values: Vec<f64>,
    pub skip: Option<Skip>,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub def: RowDef,
    pub cells: Vec<Cell>,
}

/// All rows; `systems[0]` is the system the ratios are about (netconduit).
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub systems: Vec<&'static str>,
    pub rows: Vec<Row>,
}

impl Results {
    pub fn new(systems: Vec<&'static str>) -> Self {
        Results { systems, rows: Vec::new() }
    }

    /// Adds the rows of a scenario; returns the index of its first row.
    pub fn add_rows(&mut self, defs: &[RowDef]) -> usize {
        let first = self.rows.len();
        for def in defs {
            self.rows.push(Row { def: def.clone(), cells: vec![Cell::default(); self.systems.len()] });
        }
        first
    }

    pub fn record(&mut self, first_row: usize, rows: usize, system: usize, outcome: &Result<Vec<f64>, Skip>) {
        for r in 0..rows {
            let cell = &mut self.rows[first_row + r].cells[system];
            match outcome {
                Ok(values) => match values.get(r) {
                    Some(v) if v.is_finite() => cell.values.push(*v),
                    _ => cell.skip = Some(Skip::Failed("no value".into())),
                },
                Err(skip) => cell.skip = Some(skip.clone()),
            }
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let mut header = vec!["Scenario".to_string(), "Unit".to_string()];
        header.extend(self.systems.iter().map(|s| s.to_string()));
        let subject = self.systems[0];
        header.extend(self.systems[1..].iter().map(|s| format!("{subject} / {s}")));
        line(&mut out, &header);
        line(&mut out, &rule(header.len(), 2));

        let mut notes: Vec<String> = Vec::new();
        for row in &self.rows {
            let summaries: Vec<Option<Summary>> = row.cells.iter().map(|c| Summary::of(&c.values)).collect();
            let arrow = if row.def.higher_is_better { "↑" } else { "↓" };
            let mut cols = vec![row.def.label.clone(), format!("{} {arrow}", row.def.unit)];
            for (i, cell) in row.cells.iter().enumerate() {
                cols.push(match (&summaries[i], &cell.skip) {
                    (Some(s), None) => fmt_summary(s),
                    (Some(s), Some(skip)) => {
                        notes.push(format!("{} / {}: some runs {skip}", row.def.label, self.systems[i]));
                        format!("{} *", fmt_summary(s))
                    }
                    (None, Some(Skip::NotApplicable(_))) => "n/a".to_string(),
                    (None, Some(skip @ Skip::Failed(_))) => {
                        notes.push(format!("{} / {}: {skip}", row.def.label, self.systems[i]));
                        "failed".to_string()
                    }
                    (None, Some(skip @ Skip::TimedOut(_))) => {
                        notes.push(format!("{} / {}: {skip}", row.def.label, self.systems[i]));
                        "timeout".to_string()
                    }
                    (None, None) => "–".to_string(),
                });
            }
            for other in &summaries[1..] {
                cols.push(match (&summaries[0], other) {
                    (Some(a), Some(b)) if b.median != 0.0 => format!("{:.2}", a.median / b.median),
                    _ => "–".to_string(),
                });
            }
            line(&mut out, &cols);
        }
        out.push_str(
            "\nCells: median (min–max) over runs. Ratios: median / median; ↑ higher is better, ↓ lower is better.\n",
        );
        // Why cells read n/a, one line per system.
        for (i, system) in self.systems.iter().enumerate() {
            let mut reasons: Vec<&str> = Vec::new();
            for row in &self.rows {
                let cell = &row.cells[i];
                if let (true, Some(Skip::NotApplicable(why))) = (cell.values.is_empty(), &cell.skip) {
                    if !reasons.contains(&why.as_str()) {
                        reasons.push(why);
                    }
                }
            }
            if !reasons.is_empty() {
                let _ = writeln!(out, "- n/a for {system}: {}.", reasons.join("; "));
            }
        }
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
        out.push_str(&self.paired_markdown());
        out
    }

    /// The ratios run by run: each run measures every system back to back, so
    /// netconduit's figure over a baseline's from the same run compares them
    /// under the same machine conditions, which a ratio of medians taken from
    /// different runs does not when the machine's speed drifts between runs.
    /// Rows where some system has no value for some run are left out.
    fn paired_markdown(&self) -> String {
        let mut out = String::new();
        let subject = self.systems[0];
        let mut header = vec!["Scenario".to_string()];
        header.extend(self.systems[1..].iter().map(|s| format!("{subject} / {s}, run by run")));
        let mut lines = Vec::new();
        for row in &self.rows {
            let ours = &row.cells[0].values;
            let cols: Vec<String> = row.cells[1..]
                .iter()
                .map(|cell| {
                    let paired = ours.len() == cell.values.len() && cell.values.iter().all(|v| *v != 0.0);
                    let ratios: Vec<f64> = ours.iter().zip(&cell.values).map(|(a, b)| a / b).collect();
                    match Summary::of(&ratios) {
                        Some(s) if paired && ratios.len() > 1 => {
                            format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
                        }
                        _ => "–".to_string(),
                    }
                })
                .collect();
            if cols.iter().any(|c| c != "–") {
                lines.push([vec![row.def.label.clone()], cols].concat());
            }
        }
        if lines.is_empty() {
            return out;
        }
        out.push_str("\nRatios run by run (each run measures every system back to back, in rotating order): median (min–max).\n\n");
        line(&mut out, &header);
        line(&mut out, &rule(header.len(), 1));
        for cols in lines {
            line(&mut out, &cols);
        }
        out
    }
}

/// The row under a table's header: `text` left-aligned columns, then numbers.
fn rule(columns: usize, text: usize) -> Vec<String> {
    (0..columns).map(|i| if i < text { "---" } else { "--:" }.to_string()).collect()
}

fn line(out: &mut String, cols: &[String]) {
    let _ = writeln!(out, "| {} |", cols.join(" | "));
}

fn fmt_summary(s: &Summary) -> String {
    if s.min == s.max {
        fmt_num(s.median)
    } else {
        format!("{} ({}–{})", fmt_num(s.median), fmt_num(s.min), fmt_num(s.max))
    }
}

/// Three significant digits, thousands grouped.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let digits = a.log10().floor() as i32 + 1;
        let scale = 10f64.powi(digits - 3);
        group((v / scale).round() as i64 * scale as i64)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn group(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}
