//! Summaries of timing samples.

use std::time::Duration;

/// The `q` quantile (0–1) of the samples, in milliseconds; `None` without any.
pub fn quantile_ms(samples: &[Duration], q: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).map(|d| d.as_secs_f64() * 1000.0)
}

/// `p50 / p95 / p99 / max` of the samples, in milliseconds.
pub fn summary(samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "no samples".to_owned();
    }
    let at = |q: f64| quantile_ms(&samples, q).unwrap_or_default();
    format!(
        "p50 {:.2} ms · p95 {:.2} ms · p99 {:.2} ms · max {:.2} ms (n = {})",
        at(0.50),
        at(0.95),
        at(0.99),
        at(1.0),
        samples.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let samples = (1..=100).rev().map(Duration::from_millis).collect();
        let text = summary(samples);
        assert!(
            text.starts_with("p50 51.00 ms · p95 95.00 ms · p99 99.00 ms · max 100.00 ms"),
            "{text}"
        );
        assert_eq!(summary(Vec::new()), "no samples");
    }
}
