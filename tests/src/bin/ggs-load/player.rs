//! One simulated player: a writer task sending commands as the mode says, and a reader task
//! matching the acknowledgements to the commands in flight and timing them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ggs_tests::Request;

use crate::args::Workload;
use crate::clock::{at_us, now_us, Plan};
use crate::measure::{Counters, PlayerShared};
use crate::transport::{Reader, Writer};

/// Open loop: most send times a late writer catches up on at once.
const MAX_CATCH_UP: usize = 1000;
/// During the drain, how often a reader wakes up to see whether the run is over.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// How a player sends.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Closed loop: at most `window` commands in flight per player.
    Closed { window: usize },
    /// Open loop: one command every `interval_us` microseconds per player.
    Open { interval_us: f64 },
}

/// The chat text of a command: `#<player>:<seq>` padded to the payload size.
pub fn chat_args(player: usize, seq: u64, payload: usize) -> String {
    let mut s = format!("#{player}:{seq}");
    while s.len() < payload {
        s.push('.');
    }
    s
}

/// What a player does beyond GGS 1.0.
#[derive(Clone, Copy, Debug)]
pub struct V11 {
    /// Whether the player speaks GGS 1.1 (numbers its commands and acknowledges).
    pub on: bool,
    /// Messages received without an acknowledgement after which one goes alone.
    pub ack_every: u64,
}

/// GGS 1.1: what the writer acknowledges with its next write (the highest `Msg` received),
/// noted as acknowledged.
fn take_ack(v11: V11, shared: &PlayerShared) -> Option<u64> {
    if !v11.on {
        return None;
    }
    let n = shared.highest_msg.load(Ordering::Acquire);
    shared.acked_msg.fetch_max(n, Ordering::AcqRel);
    Some(n)
}

/// The writer half of a player: sends commands as the mode says until the plan's end.
#[allow(clippy::too_many_arguments)]
pub async fn write_loop(
    mut writer: Writer,
    index: usize,
    seat: usize,
    workload: Workload,
    mode: Mode,
    phase: f64,
    plan: Plan,
    payload: usize,
    v11: V11,
    shared: Arc<PlayerShared>,
    counters: Arc<Counters>,
) -> Result<Writer> {
    let mut seq = 0u64;
    let mut next_send = plan.start as f64 + phase;
    let mut args_buf: Vec<String> = Vec::new();
    let end = at_us(plan.to);
    // Seat 1 starts the first game.
    let mut restart_game = workload == Workload::Pong && seat == 1;
    loop {
        if restart_game {
            restart_game = false;
            let ack = take_ack(v11, &shared);
            writer
                .send_acked(&[Request::Command("start", "")], ack)
                .await?;
            let t = now_us();
            counters.sent_total.fetch_add(1, Ordering::Relaxed);
            if plan.measured(t) {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Wait until commands may go: a free place in the window, or the next send time.
        let mut times: Vec<u64> = Vec::new();
        match mode {
            Mode::Closed { .. } => {
                tokio::select! {
                    permit = shared.window.acquire() => {
                        permit?.forget();
                        let mut n = 1;
                        while let Ok(p) = shared.window.try_acquire() {
                            p.forget();
                            n += 1;
                        }
                        let t = now_us();
                        times.resize(n, t);
                    }
                    _ = shared.restart.notified() => { restart_game = true; continue; }
                    _ = shared.ack_due.notified(), if v11.on => {
                        send_ack(&mut writer, &shared, &counters).await?;
                        continue;
                    }
                    _ = tokio::time::sleep_until(end) => {}
                }
            }
            Mode::Open { interval_us } => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at_us(next_send as u64)) => {
                        let now = now_us() as f64;
                        // Catch up on every send time that has passed (at most [`MAX_CATCH_UP`] at once):
                        // latencies count from when a command should have gone.
                        while next_send <= now && times.len() < MAX_CATCH_UP {
                            times.push(next_send as u64);
                            next_send += interval_us;
                        }
                    }
                    _ = shared.restart.notified() => { restart_game = true; continue; }
                    _ = shared.ack_due.notified(), if v11.on => {
                        send_ack(&mut writer, &shared, &counters).await?;
                        continue;
                    }
                    _ = tokio::time::sleep_until(end) => {}
                }
            }
        }
        let now = now_us();
        if now >= plan.to {
            break;
        }
        if times.is_empty() {
            continue;
        }
        args_buf.clear();
        for _ in &times {
            seq += 1;
            args_buf.push(match workload {
                Workload::Chat => chat_args(index, seq, payload),
                Workload::Pong => String::new(),
            });
        }
        let msgs: Vec<Request> = args_buf
            .iter()
            .enumerate()
            .map(|(i, a)| match workload {
                Workload::Chat => Request::Command("message", a),
                Workload::Pong => Request::Command(
                    if (seq as usize + i) & 1 == 0 {
                        "up"
                    } else {
                        "down"
                    },
                    a,
                ),
            })
            .collect();
        {
            let mut q = shared
                .in_flight
                .lock()
                .expect("no panics holding in_flight");
            let first = seq + 1 - times.len() as u64;
            q.extend(
                times
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| (first + i as u64, t)),
            );
        }
        let n = times.len() as u64;
        shared.sent.fetch_add(n, Ordering::Release);
        counters.sent_total.fetch_add(n, Ordering::Relaxed);
        if plan.measured(now) {
            counters.sent.fetch_add(n, Ordering::Relaxed);
        }
        let ack = take_ack(v11, &shared);
        writer.send_acked(&msgs, ack).await?;
    }
    shared.writer_done.store(true, Ordering::Release);
    Ok(writer)
}

/// GGS 1.1: acknowledges alone what the reader has received.
async fn send_ack(writer: &mut Writer, shared: &PlayerShared, counters: &Counters) -> Result<()> {
    let n = shared.highest_msg.load(Ordering::Acquire);
    if n > shared.acked_msg.fetch_max(n, Ordering::AcqRel) {
        writer.ack(n).await?;
        counters.acks_alone.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// What one player's reader measured.
#[derive(Default)]
pub struct ReadStats {
    /// Commands sent that got no answer before the end of the drain.
    pub unanswered: u64,
}

/// The reader half of a player: matches acknowledgements to commands in flight.
///
/// A chat acknowledgement carries its sequence number, so it is matched by it: commands before
/// it still in flight failed (their `error` replies may come before or after it: ggs answers
/// `overloaded` at once, ahead of replies still in the table's pipeline). Pong's acknowledgements
/// carry nothing and are matched in order. Every answer, acknowledgement or error, frees a place
/// in the window.
#[allow(clippy::too_many_arguments)]
pub async fn read_loop(
    mut reader: Reader,
    index: usize,
    seat: usize,
    workload: Workload,
    mode: Mode,
    plan: Plan,
    v11: V11,
    shared: Arc<PlayerShared>,
    counters: Arc<Counters>,
) -> ReadStats {
    let mut stats = ReadStats::default();
    let tag = format!("#{index}:");
    let my_paddle = format!("player{seat}_y");
    let (mut acked, mut failed) = (0u64, 0u64);
    let drain_until = at_us(plan.drain_until);
    // What setup read is acknowledged with the first command.
    shared
        .highest_msg
        .fetch_max(reader.highest_msg(), Ordering::AcqRel);
    loop {
        if shared.writer_done.load(Ordering::Acquire)
            && acked + failed >= shared.sent.load(Ordering::Acquire)
        {
            break;
        }
        let now = tokio::time::Instant::now();
        if now >= drain_until {
            break;
        }
        // Wake up at the end of the measured interval, then now and then, to notice the end.
        let wait = if now < at_us(plan.to) {
            at_us(plan.to)
        } else {
            std::cmp::min(drain_until, now + DRAIN_POLL)
        };
        let highest = reader.highest_msg();
        let reply = match tokio::time::timeout_at(wait, reader.next()).await {
            Ok(r) => r,
            Err(_) => continue,
        };
        let (reply, meta) = match reply {
            Ok(Some(r)) => r,
            Ok(None) => {
                counters.disconnected.fetch_add(1, Ordering::Relaxed);
                counters.error(
                    "disconnected",
                    format!("player {index}: the server closed the connection"),
                );
                break;
            }
            Err(e) => {
                counters.disconnected.fetch_add(1, Ordering::Relaxed);
                counters.error("read_error", format!("player {index}: {e:#}"));
                break;
            }
        };
        if v11.on {
            if let Some(msg) = meta.msg {
                if msg != highest + 1 {
                    counters.error(
                        "msg_order",
                        format!("player {index}: Msg {msg} after {highest}"),
                    );
                }
                shared.highest_msg.fetch_max(msg, Ordering::AcqRel);
                if msg >= shared.acked_msg.load(Ordering::Acquire) + v11.ack_every {
                    shared.ack_due.notify_one();
                }
            }
        }
        let now = now_us();
        counters.received_total.fetch_add(1, Ordering::Relaxed);
        if plan.measured(now) {
            counters.received.fetch_add(1, Ordering::Relaxed);
        }
        // The send time of the command this reply acknowledges, if it is an acknowledgement.
        let sent_at = match workload {
            Workload::Chat if reply.command == "message" => {
                let seq = reply.body.rfind(&tag).and_then(|at| {
                    let rest = &reply.body[at + tag.len()..];
                    rest.split('.').next().unwrap_or("").parse::<u64>().ok()
                });
                match seq {
                    None => None,
                    Some(seq) => {
                        let mut q = shared
                            .in_flight
                            .lock()
                            .expect("no panics holding in_flight");
                        while q.front().is_some_and(|&(s, _)| s < seq) {
                            q.pop_front();
                        }
                        match q.front() {
                            Some(&(s, t)) if s == seq => {
                                q.pop_front();
                                Some(t)
                            }
                            _ => {
                                drop(q);
                                counters.error(
                                    "out_of_order",
                                    format!("player {index}: {seq} acknowledged twice or late"),
                                );
                                None
                            }
                        }
                    }
                }
            }
            Workload::Chat => None,
            Workload::Pong => {
                if reply.command == "winner" && seat == 1 {
                    shared.restart.notify_one();
                }
                let ack = if seat == 0 {
                    reply.command == "warning"
                } else {
                    reply.command == my_paddle
                };
                let mut q = shared
                    .in_flight
                    .lock()
                    .expect("no panics holding in_flight");
                match q.pop_front() {
                    Some((_, t)) if ack => Some(t),
                    Some(entry) => {
                        q.push_front(entry);
                        None
                    }
                    None if ack => {
                        drop(q);
                        counters.error(
                            "unexpected_ack",
                            format!("player {index}: {reply} with nothing in flight"),
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        let answered = if let Some(sent) = sent_at {
            acked += 1;
            counters.acked_total.fetch_add(1, Ordering::Relaxed);
            if plan.measured(now) {
                counters.acked.fetch_add(1, Ordering::Relaxed);
                counters.rtt(now.saturating_sub(sent));
            }
            true
        } else if reply.command == "error" {
            failed += 1;
            let code = reply.body.split(' ').next().unwrap_or("").to_string();
            counters.error(&code, format!("player {index}: error {}", reply.body));
            if workload == Workload::Pong {
                shared
                    .in_flight
                    .lock()
                    .expect("no panics holding in_flight")
                    .pop_front();
            }
            true
        } else {
            false
        };
        if answered {
            if let Mode::Closed { .. } = mode {
                shared.window.add_permits(1);
            }
        }
    }
    stats.unanswered = shared
        .sent
        .load(Ordering::Acquire)
        .saturating_sub(acked + failed);
    stats
}
