//! The summary ggs-load prints from its JSON report.

use serde_json::{json, Value};

use crate::measure::round;

/// The median of some figures (`None` if there are none).
fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    (!xs.is_empty()).then(|| {
        let n = xs.len();
        if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        }
    })
}

/// The report of `--protocol compare`: every run, each protocol's medians of messages/s and
/// p99, and the ratios of 1.1 to 1.0.
pub fn comparison(runs: &[Value]) -> Value {
    let of = |protocol: &str, figure: &dyn Fn(&Value) -> Option<f64>| {
        median(
            runs.iter()
                .filter(|r| r["protocol"] == protocol)
                .filter_map(figure)
                .collect(),
        )
    };
    let msgs = |r: &Value| r["msgs_per_s"].as_f64();
    let p99 = |r: &Value| r["rtt_ms"]["p99"].as_f64();
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(round(b / a, 3)),
        _ => None,
    };
    let (m10, m11) = (of("1.0", &msgs), of("1.1", &msgs));
    let (p10, p11) = (of("1.0", &p99), of("1.1", &p99));
    json!({
        "tool": "ggs-load",
        "comparison": "protocol",
        "rounds": runs.len() / 2,
        "runs": runs,
        "msgs_per_s": { "1.0": m10, "1.1": m11 },
        "p99_ms": { "1.0": p10, "1.1": p11 },
        "acks_alone": of("1.1", &|r: &Value| r["acks_alone"].as_f64()),
        "msgs_per_s_ratio": ratio(m10, m11),
        // 1.0's p99 over 1.1's: like the throughput ratio, 1.0 or more means 1.1 costs nothing.
        "p99_ratio": ratio(p11, p10),
    })
}

/// Prints the ratio line of `--protocol compare`.
pub fn print_comparison(r: &Value) {
    let f = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
    println!(
        "ggs-load protocol 1.1 vs 1.0 (medians of {} rounds): messages/s {} vs {} = {}x; \
         p99 {} ms vs {} ms = {}x (1.0's p99 / 1.1's); 1.1 acknowledgements alone {}",
        r["rounds"],
        f(&r["msgs_per_s"]["1.1"]),
        f(&r["msgs_per_s"]["1.0"]),
        f(&r["msgs_per_s_ratio"]),
        f(&r["p99_ms"]["1.1"]),
        f(&r["p99_ms"]["1.0"]),
        f(&r["p99_ratio"]),
        f(&r["acks_alone"])
    );
}

/// Prints the summary of a load or memory report.
pub fn print_summary(r: &Value) {
    let f = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    if r.get("hibernation").is_some() {
        let ms = |k: &str, q: &str| r[k][q].as_f64().map_or("-".into(), |v| format!("{v:.2}"));
        println!(
            "ggs-load hibernation {}: idle {} KiB; {} tables hibernated: RSS {} KiB (peak {} KiB), \
             {:.2} KiB per hibernated table; {:.2} KiB per table hibernated with a player seated",
            r["target"].as_str().unwrap_or(""),
            r["rss_idle_kib"],
            r["idle_tables"],
            r["rss_hibernated_tables_kib"],
            r["rss_peak_kib"],
            f("kib_per_hibernated_table"),
            f("kib_per_seated_hibernated_table"),
        );
        for (what, k) in [
            ("hello waking a table", "wake_hello_rtt_ms"),
            ("command waking a table", "wake_command_rtt_ms"),
            ("command on an awake table", "awake_command_rtt_ms"),
        ] {
            println!(
                "  {what}: p50 {} ms, p90 {}, p99 {}, max {} ({} samples)",
                ms(k, "p50"),
                ms(k, "p90"),
                ms(k, "p99"),
                ms(k, "max"),
                r[k]["samples"]
            );
        }
        return;
    }
    if r.get("memory").is_some() {
        println!(
            "ggs-load memory {}: idle {} KiB; {:.1} KiB per idle table; {:.1} KiB per connection; \
             {:.1} KiB per seated connection",
            r["target"].as_str().unwrap_or(""),
            r["rss_idle_kib"],
            f("kib_per_idle_table"),
            f("kib_per_connection"),
            f("kib_per_seated_connection"),
        );
        return;
    }
    let rtt = &r["rtt_ms"];
    let ms = |k: &str| {
        rtt.get(k)
            .and_then(Value::as_f64)
            .map_or("-".to_string(), |v| format!("{v:.2}"))
    };
    println!(
        "ggs-load {} {} on {} (GGS {}): {} players, tables of {}, {} {}",
        r["label"].as_str().unwrap_or(""),
        r["workload"].as_str().unwrap_or(""),
        r["target"].as_str().unwrap_or(""),
        r["protocol"].as_str().unwrap_or("1.0"),
        r["players"],
        r["table_size"],
        r["mode"].as_str().unwrap_or(""),
        match r["mode"].as_str() {
            Some("open") => format!("at {:.0} commands/s offered", f("offered_commands_per_s")),
            _ => format!("window {}", r["window"]),
        }
    );
    println!(
        "  messages/s in {:.0} + out {:.0} = {:.0}; acknowledged commands/s {:.0}",
        f("msgs_in_per_s"),
        f("msgs_out_per_s"),
        f("msgs_per_s"),
        f("acked_per_s")
    );
    println!(
        "  RTT ms: p50 {} p90 {} p99 {} p99.9 {} max {} ({} samples)",
        ms("p50"),
        ms("p90"),
        ms("p99"),
        ms("p999"),
        ms("max"),
        rtt["samples"]
    );
    println!(
        "  errors {} {}; unanswered {}; server CPU {}% (threads {}); RSS {} KiB; load generator CPU {}%; rest of the machine {}%",
        r["errors"],
        r["error_codes"],
        r["unanswered"],
        r["server_cpu_pct"],
        r["server_threads_cpu_pct"],
        r["server_rss_kib"],
        r["loadgen_cpu_pct"],
        r["other_cpu_pct"]
    );
}
