//! The table actor's event loop: takes events from the inbox one at a time (queued game
//! commands together, as one batch), wakes for the tick, the timer and expired seats, and
//! turns each into events for the one transaction step ([`Table::run`]); and hibernation: a
//! table idle for `hibernate_after` drops its VM and waits, parked, for its next event.
//!
//! Hibernation: a table with no event for `hibernate_after`, no tick, no pending timer, no held
//! seat and nothing in flight waits until every commit it submitted is durable, and, if its
//! inbox is still empty, drops its VM (the runtime is freed on its VM thread). It is then
//! parked: the same task, the same inbox, so a seated player's handle still reaches it and
//! nothing sent meanwhile is lost or reordered. Its next event (anything that needs the
//! script: a command, a join, a leave, a define, a stop) loads its committed state from the
//! store and opens a new VM, which runs `onResume()` as after a restart, then runs the event.
//! `who`, replies and flushes are answered while parked. A parked table with nobody seated
//! leaves the directory and ends, once nothing else holds its handle and its inbox is empty
//! (checked under the directory's lock, where every other handle is cloned): the next `hello`
//! loads it from the store as a new actor, so there is never a second one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ggs_js::{Event, TableVm};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::seats::{Claim, JoinRefused, Seated, Seats};
use super::step::{Pending, Step};
use super::stream::{Bounds, Resume};
use super::supervise::{Crash, Start};
use super::{GameScript, TableDeps, TableEvent, TableInit, UpgradeError};
use crate::auth::Identity;
use crate::observe::Observation;
use crate::outbox::Outbox;
use crate::protocol::message::{ServerMessage, Version};
use crate::protocol::token::Token;
use crate::store::{TableRecord, Txn};
use crate::table_info::TableInfo;

/// Most queued game commands sent to the VM thread in one trip.
const MAX_BATCH: usize = 64;

/// How an awake spell of [`Table::serve_awake`] ended.
enum Served {
    /// The inbox closed or the table stopped: the actor ends.
    Ended,
    /// The table dropped its VM: it parks until its next event.
    Hibernated,
}

/// One live table, as its actor holds it.
pub(super) struct Table {
    pub(super) id: Arc<str>,
    pub(super) vm: Option<TableVm>,
    pub(super) seats: Seats,
    /// The record; its script is the one the table runs (`None`: not defined yet).
    pub(super) record: TableRecord,
    /// The record of a new table, not yet committed: it goes with the first event.
    pub(super) unrecorded: bool,
    pub(super) next_tick: Option<Instant>,
    pub(super) next_timer: Option<Instant>,
    /// An event taken from the inbox while gathering a batch of commands, to run next.
    pub(super) next_event: Option<TableEvent>,
    /// Events taken for the VM and not yet settled (see [`Table::drain`]).
    pub(super) inflight: VecDeque<Pending>,
    /// Recent crashes and limit offences (timeouts, out of memory), for the restart intensity.
    pub(super) strikes: VecDeque<Instant>,
    /// Set when offences passed the restart intensity: the table stops after this event.
    pub(super) stopping: Option<String>,
    pub(super) deps: TableDeps,
    pub(super) info: Arc<TableInfo>,
    /// Where the table goes when it is handed to another node (shared with its handles).
    pub(super) relocation: Arc<super::Relocation>,
    /// Set when a handoff moved the table: it ends after this event.
    pub(super) moved: Option<Arc<super::Moved>>,
}

impl Table {
    /// The table `init` describes, and how its first [`Table::serve`] begins.
    pub(super) fn new(
        id: Arc<str>,
        init: TableInit,
        deps: TableDeps,
        info: Arc<TableInfo>,
        relocation: Arc<super::Relocation>,
    ) -> (Table, Start) {
        let until = Instant::now() + deps.settings.seat_grace;
        let bounds = Bounds {
            messages: deps.settings.outbox_messages,
            bytes: deps.settings.outbox_bytes,
        };
        let (record, seats, start, unrecorded) = match init {
            TableInit::New(record) => (record, Seats::new(bounds), Start::Fresh, true),
            TableInit::Loaded(loaded) => {
                let mut seats = Seats::held(&id, loaded.seats, until, bounds, loaded.log);
                seats.load_identities(loaded.identities);
                (loaded.record, seats, Start::Load(loaded.storage), false)
            }
        };
        let table = Table {
            id,
            vm: None,
            seats,
            record,
            unrecorded,
            next_tick: None,
            next_timer: None,
            next_event: None,
            inflight: VecDeque::new(),
            strikes: VecDeque::new(),
            stopping: None,
            deps,
            info,
            relocation,
            moved: None,
        };
        (table, start)
    }

    /// Whether the table has a script.
    pub(super) fn defined(&self) -> bool {
        self.record.script.is_some()
    }

    /// Runs events until the inbox closes, the table stops or it left the directory while
    /// hibernated (Ok), or the table crashes (Err, or a panic).
    pub(super) async fn serve(
        &mut self,
        rx: &mut mpsc::Receiver<TableEvent>,
        start: Start,
    ) -> Result<(), Crash> {
        let mut start = start;
        loop {
            // Boxed: while parked, only the small state of `park` is held, not the awake one's.
            match Box::pin(self.serve_awake(rx, start)).await? {
                Served::Ended => return Ok(()),
                Served::Hibernated => match self.park(rx).await? {
                    Some(woken) => start = woken,
                    None => return Ok(()),
                },
            }
        }
    }

    /// Opens the table as `start` says and runs its events until it ends or hibernates.
    async fn serve_awake(
        &mut self,
        rx: &mut mpsc::Receiver<TableEvent>,
        start: Start,
    ) -> Result<Served, Crash> {
        match start {
            Start::Fresh => self.open(ggs_js::Storage::default()).await?,
            Start::Load(storage) => self.open(storage).await?,
            Start::Rebuild => self.rebuild().await?,
        }
        // Events the last crash interrupted run again on the rebuilt table.
        self.drain(self.inflight.len()).await?;
        let mut last_event = Instant::now();
        loop {
            if let Some(event) = self.next_event.take() {
                self.handle(event).await?;
            }
            // Handed off (by that event or the last one): nothing more runs here.
            if let Some(moved) = self.moved.take() {
                self.relocate(rx, moved);
                return Ok(Served::Ended);
            }
            let wake = [self.next_tick, self.next_timer, self.seats.next_expiry()]
                .into_iter()
                .flatten()
                .min();
            let sleep = self.hibernates_at(last_event);
            tokio::select! {
                event = rx.recv() => match event {
                    Some(TableEvent::Command { player, command, args, seq }) => {
                        // Game commands queued together run in one trip to the VM thread.
                        let mut batch = vec![(player, command, args, seq)];
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(TableEvent::Command { player, command, args, seq }) => {
                                    batch.push((player, command, args, seq))
                                }
                                // An acknowledgement (a 1.1 client sends one with each
                                // command) only releases kept messages the client has: it
                                // need not wait for the commands before it, nor split the
                                // batch.
                                Ok(TableEvent::Ack { player, n }) => self.seats.ack(&player, n),
                                Ok(other) => {
                                    self.next_event = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.commands(batch).await?;
                    }
                    Some(event) => self.handle(event).await?,
                    None => return Ok(Served::Ended),
                },
                _ = sleep_until(wake), if wake.is_some() => self.wake().await?,
                _ = sleep_until(sleep), if sleep.is_some() => {
                    if self.hibernate(rx).await {
                        return Ok(Served::Hibernated);
                    }
                }
            }
            last_event = Instant::now();
            if let Some(why) = self.stopping.take() {
                tracing::error!(table = %self.id, "stopping: {why}");
                self.stop(&format!("the table was stopped: {why}"));
                return Ok(Served::Ended);
            }
            let connected = self.seats.connected().count();
            self.info.seats(self.seats.len(), connected);
        }
    }

    /// When the table hibernates if nothing happens after `last_event`: never while it has a
    /// tick, a pending timer, a held seat (it must expire on time) or anything in flight.
    fn hibernates_at(&self, last_event: Instant) -> Option<Instant> {
        let after = self.deps.settings.hibernate_after;
        let idle = self.vm.is_some()
            && self.next_tick.is_none()
            && self.next_timer.is_none()
            && self.seats.next_expiry().is_none()
            && self.inflight.is_empty()
            && self.next_event.is_none()
            && self.stopping.is_none();
        (idle && !after.is_zero()).then(|| last_event + after)
    }

    /// Drops the VM once every commit submitted is durable, if the inbox is still empty; false
    /// (the VM kept) when an event arrived meanwhile.
    async fn hibernate(&mut self, rx: &mpsc::Receiver<TableEvent>) -> bool {
        self.flushed().await;
        if !rx.is_empty() {
            return false;
        }
        self.vm = None;
        super::release::freed();
        // The record comes back from the store on waking; the script is its biggest part.
        self.record.script = None;
        self.inflight.shrink_to_fit();
        self.strikes.clear();
        self.strikes.shrink_to_fit();
        self.info.hibernated(true);
        let table = || Observation::TableHibernated {
            table: self.id.clone(),
        };
        self.deps.observers.send(table);
        crate::telemetry::hibernated();
        tracing::debug!(table = %self.id, "hibernated");
        true
    }

    /// Parked, without a VM: answers what needs no script, and wakes for anything else with the
    /// start that loads the committed state (`None`: the actor ends, having left the directory
    /// with nobody seated, or its inbox closed).
    async fn park(&mut self, rx: &mut mpsc::Receiver<TableEvent>) -> Result<Option<Start>, Crash> {
        let retry = self.deps.settings.hibernate_after;
        loop {
            if self.seats.len() == 0 && self.leave_directory(rx) {
                tracing::debug!(table = %self.id, "left the directory");
                return Ok(None);
            }
            let event = if self.seats.len() == 0 {
                // Someone holds the handle (a `hello` on its way): try leaving again later.
                match tokio::time::timeout(retry, rx.recv()).await {
                    Ok(event) => event,
                    Err(_) => continue,
                }
            } else {
                rx.recv().await
            };
            match event {
                None => return Ok(None),
                Some(
                    event @ (TableEvent::Who { .. }
                    | TableEvent::Reply { .. }
                    | TableEvent::Ack { .. }
                    | TableEvent::Version { .. }),
                ) => Box::pin(self.handle(event)).await?,
                Some(event @ TableEvent::Flush { .. }) => Box::pin(self.handle(event)).await?,
                // Handed off parked: its committed state is all there is to carry.
                Some(TableEvent::Handoff { ready, verdict }) => {
                    Box::pin(self.hand_off(ready, verdict)).await;
                    if let Some(moved) = self.moved.take() {
                        self.relocate(rx, moved);
                        return Ok(None);
                    }
                }
                Some(event) => {
                    self.next_event = Some(event);
                    break;
                }
            }
        }
        let storage = self.load_committed("waking").await?;
        self.info.hibernated(false);
        crate::telemetry::woken();
        tracing::debug!(table = %self.id, "woken");
        Ok(Some(Start::Load(storage)))
    }

    /// Removes the table from the directory if nothing can reach it any more: its inbox is
    /// empty and the directory's handle is the only one. Both hold under the directory's lock,
    /// where every other handle is cloned, so no event can be sent to this actor afterwards.
    fn leave_directory(&self, rx: &mpsc::Receiver<TableEvent>) -> bool {
        let Ok(key) = Uuid::parse_str(&self.id) else {
            return false;
        };
        let mut tables = self
            .deps
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let ours = tables
            .get(&key)
            .is_some_and(|h| std::ptr::eq(h.info(), &*self.info));
        if ours && rx.is_empty() && rx.sender_strong_count() == 1 {
            tables.remove(&key);
            return true;
        }
        false
    }

    async fn handle(&mut self, event: TableEvent) -> Result<(), Crash> {
        let mut step = Step::default();
        match event {
            TableEvent::Join {
                player,
                token,
                resume,
                outbox,
                conn,
                reply,
                define,
                version,
                ack,
                identity,
            } => {
                let who = (player, token, resume, identity);
                let stream = (version, ack.unwrap_or(0));
                return self.join(who, outbox, conn, reply, define, stream).await;
            }
            TableEvent::Leave { player, conn } => {
                let until = Instant::now() + self.deps.settings.seat_grace;
                self.seats.leave(&player, conn, until);
                return Ok(());
            }
            TableEvent::Define {
                player,
                source,
                game,
            } => {
                let Some(outbox) = self.seats.outbox_of(&player).cloned() else {
                    return Ok(());
                };
                let host = self.record.host.as_deref();
                let not_host = host.is_some_and(|h| h != &*player);
                if self.deps.settings.open_define || !not_host {
                    let define = Pending::new(Event::Define { source });
                    return self.run(vec![define.sent_by(&outbox).game(game)]).await;
                }
                let why = "only the player who created the table may define its script";
                step.deliver(&outbox, ServerMessage::error("not_host", Some(why)));
            }
            TableEvent::Upgrade { game, done } => {
                let from = match &self.record.game {
                    Some(running) if *running == game.id && self.defined() => {
                        let _ = done.send(Ok(Some(running.clone())));
                        return Ok(());
                    }
                    Some(running) if running.name == game.id.name && self.defined() => {
                        running.version
                    }
                    _ => {
                        let _ = done.send(Err(UpgradeError::OtherGame(game.id.name)));
                        return Ok(());
                    }
                };
                let event = Event::Upgrade {
                    source: game.source,
                    from,
                    to: game.id.version,
                };
                let mut upgrade = Pending::new(event).game(Some(game.id));
                upgrade.upgraded = Some(done);
                return self.run(vec![upgrade]).await;
            }
            TableEvent::Who { player, outbox } => {
                let who = self.seats.who(&player, self.record.host.as_deref());
                let who = ServerMessage::new("who", who);
                step.post([self.seats.post_outbox(&outbox, who)]);
            }
            TableEvent::Stop { why } => self.stopping = Some(why),
            TableEvent::Reply { outbox, message } => {
                step.post([self.seats.post_outbox(&outbox, message)])
            }
            TableEvent::Ack { player, n } => {
                // What it drops from the store goes with the next transaction.
                self.seats.ack(&player, n);
                return Ok(());
            }
            TableEvent::Version {
                player,
                conn,
                version,
            } => {
                self.seats.set_version(&player, conn, version);
                return Ok(());
            }
            TableEvent::Command {
                player,
                command,
                args,
                seq,
            } => return self.commands(vec![(player, command, args, seq)]).await,
            TableEvent::Flush { done } => step.done = Some(done),
            TableEvent::Handoff { ready, verdict } => {
                self.hand_off(ready, verdict).await;
                return Ok(());
            }
        }
        self.submit(step);
        Ok(())
    }

    /// A player sits down or takes back a seat: they get the `hello` reply, then whatever
    /// `playerJoined` (or `playerReconnected`) sends, in one transaction with their seat. `who`
    /// is the connection's public id, its own token and the token it presents, if any; a
    /// presented token that holds no seat is refused, and nothing happens; so is a claim of a
    /// seat of another account (the identity, from the auth hook). `stream` is the
    /// version the connection speaks and the highest message number it has received: a 1.1
    /// seat taken back gets, after the `hello` reply (which says the highest `Seq` applied),
    /// every kept message above that number, or `resync` if some are no longer kept.
    async fn join(
        &mut self,
        who: (Arc<str>, Token, Option<Token>, Option<Identity>),
        outbox: Outbox,
        conn: u64,
        reply: oneshot::Sender<Result<Seated, JoinRefused>>,
        define: Option<GameScript>,
        stream: (Version, u64),
    ) -> Result<(), Crash> {
        let (player, own, resume, identity) = who;
        let (version, ack) = stream;
        if !self
            .seats
            .may_claim(resume.as_ref(), &player, identity.as_ref())
        {
            let _ = reply.send(Err(JoinRefused::NotYours));
            return Ok(());
        }
        let claim = match self
            .seats
            .claim(resume.as_ref(), &player, &own, &outbox, conn)
        {
            Ok(claim) => claim,
            Err(refused) => {
                let _ = reply.send(Err(refused.into()));
                return Ok(());
            }
        };
        let mut step = Step::default();
        let mut after_hello = Vec::new();
        let (player, token, event) = match claim {
            Claim::Retaken {
                player,
                token,
                changed,
            } => {
                if changed {
                    step.txn.seat(&self.id, &player, Some(token.hash()));
                }
                if self.seats.identify(&player, identity) {
                    let identity = self.seats.identity(&player);
                    step.txn.identity(&self.id, &player, identity);
                }
                let until = Instant::now() + self.deps.settings.seat_grace;
                self.seats.hold_others(conn, &player, until);
                after_hello = match self.seats.resume(&player, version, ack) {
                    Some(Resume::Replay(missing)) => {
                        missing.into_iter().map(|m| (outbox.clone(), m)).collect()
                    }
                    Some(Resume::Resync) => {
                        let why = "some messages to this seat are no longer kept; the game \
                                   sends its picture again";
                        let resync = ServerMessage::new("resync", why);
                        self.seats.post(&player, resync).into_iter().collect()
                    }
                    None => Vec::new(),
                };
                let event = Event::Reconnected {
                    player: player.to_string(),
                };
                (player, token, event)
            }
            Claim::New => {
                let creator = self.unrecorded && self.record.host.is_none();
                if creator {
                    // The creator's hello is a new table's first event.
                    self.record.host = Some(player.to_string());
                }
                if let Some(script) = define.filter(|_| creator && !self.defined()) {
                    // Defined before the creator sits down, in the same transaction, so
                    // `playerJoined` already runs in the new script. Nobody is seated to be
                    // told `defined ok`: its only message can be its error, which follows
                    // the `hello` reply.
                    let event = Event::Define {
                        source: script.source,
                    };
                    let define = Pending::new(event).sent_by(&outbox).game(Some(script.id));
                    step = self.run_uncommitted(define).await?;
                    after_hello = std::mem::take(&mut step.deliveries)
                        .into_iter()
                        .map(|d| (d.outbox, d.message))
                        .collect();
                }
                self.seats
                    .sit(player.clone(), &own, outbox.clone(), conn, version);
                step.txn.seat(&self.id, &player, Some(own.hash()));
                self.joined(&mut step, &player, identity, creator);
                let event = Event::Joined {
                    player: player.to_string(),
                };
                (player, own, event)
            }
        };
        let hello = ServerMessage {
            seq: self.seats.seq(&player),
            ..ServerMessage::hello(&token, self.defined(), &self.id, &player)
        };
        let _ = reply.send(Ok(Seated { player, token }));
        step.deliver(&outbox, hello);
        step.post(after_hello);
        self.run(vec![Pending::new(event).sent_by(&outbox).in_step(step)])
            .await
    }

    /// What a new seat adds to its join's transaction (its identity) and tells observers
    /// (the table's creation, with the game its creator named, then the join).
    fn joined(&mut self, step: &mut Step, player: &Arc<str>, id: Option<Identity>, creator: bool) {
        if self.seats.identify(player, id) {
            step.txn
                .identity(&self.id, player, self.seats.identity(player));
        }
        let observers = &self.deps.observers;
        if creator {
            observers.send(|| Observation::TableCreated {
                table: self.id.clone(),
                game: self
                    .record
                    .game
                    .as_ref()
                    .map(|g| (g.name.clone(), g.version)),
            });
        }
        observers.send(|| Observation::PlayerJoined {
            table: self.id.clone(),
            player: player.clone(),
            identity: self.seats.identity(player).cloned(),
        });
    }

    /// Runs game commands that were queued together as one batch (see [`Table::run`]). A
    /// command from a player no longer seated is dropped, and so is a GGS 1.1 command whose
    /// `Seq` is not above the highest let in for its seat (it ran, or is about to: a resend).
    async fn commands(&mut self, batch: Vec<Command>) -> Result<(), Crash> {
        let batch = batch
            .into_iter()
            .filter_map(|(player, command, args, seq)| {
                let outbox = self.seats.outbox_of(&player)?.clone();
                if let Some(n) = seq {
                    if !self.seats.admit(&player, n) {
                        tracing::trace!(table = %self.id, "command {n} of {player} ran already");
                        return None;
                    }
                }
                let event = Event::Command {
                    player: player.to_string(),
                    command,
                    args,
                };
                Some(Pending::new(event).sent_by(&outbox).numbered(player, seq))
            })
            .collect();
        self.run(batch).await
    }

    /// Runs whatever is due: an expired seat, the tick, a timer.
    async fn wake(&mut self) -> Result<(), Crash> {
        let now = Instant::now();
        if let Some(player) = self.seats.expire(now) {
            let mut txn = Txn::default();
            txn.seat(&self.id, &player, None);
            self.left(&mut txn, &player);
            let left = Event::Left {
                player: player.to_string(),
            };
            let step = Step {
                txn,
                ..Step::default()
            };
            self.run(vec![Pending::new(left).in_step(step)]).await?;
        }
        if self.next_tick.is_some_and(|t| t <= now) {
            let period = Duration::from_millis(self.record.tick_ms as u64);
            let due = self.next_tick.unwrap_or(now) + period;
            // Fixed rate; a table that fell behind skips ticks rather than bursting.
            self.next_tick = Some(if due <= now { now + period } else { due });
            self.run(vec![Pending::new(Event::Tick)]).await?;
        }
        if self.next_timer.is_some_and(|t| t <= now) {
            self.next_timer = None;
            self.run(vec![Pending::new(Event::Timer)]).await?;
        }
        Ok(())
    }

    /// A freed seat's identity is released with it, and observers told of the leave.
    fn left(&mut self, txn: &mut Txn, player: &Arc<str>) {
        let identity = self.seats.forget(player);
        if identity.is_some() {
            txn.identity(&self.id, player, None);
        }
        let table = self.id.clone();
        let player = player.clone();
        let left = || Observation::PlayerLeft {
            table,
            player,
            identity,
        };
        self.deps.observers.send(left);
    }

    /// Sets the tick interval (0: none) and when the next tick is due.
    pub(super) fn set_tick(&mut self, ms: u32) {
        self.record.tick_ms = ms;
        self.next_tick = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms as u64));
    }

    /// Tells every connected player the table stopped.
    pub(super) fn stop(&mut self, why: &str) {
        self.deps.observers.send(|| Observation::TableStopped {
            table: self.id.clone(),
            why: why.to_string(),
        });
        let mut step = Step::default();
        for outbox in self.seats.connected() {
            step.deliver(outbox, ServerMessage::error("table_stopped", Some(why)));
        }
        self.submit(step);
    }
}

/// A game command as queued: player, command, arguments, GGS 1.1 `Seq`.
type Command = (Arc<str>, String, String, Option<u64>);

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
