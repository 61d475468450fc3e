//! The summary ggs-load prints from its JSON report.

use serde_json::Value;

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
        "ggs-load {} {} on {}: {} players, tables of {}, {} {}",
        r["label"].as_str().unwrap_or(""),
        r["workload"].as_str().unwrap_or(""),
        r["target"].as_str().unwrap_or(""),
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
