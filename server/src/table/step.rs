//! The one transaction step every event of a table takes: it runs on the VM, and its outcome
//! becomes a `Txn` and deliveries, submitted to the committer.
//!
//! [`Table::run`] takes a batch: a sequence of events, each its own transaction and commit,
//! that travel to the VM thread in one trip (a single event is a batch of one). [`settle`] is
//! the pure part: one outcome -> store changes and messages, in order.

use std::sync::atomic::Ordering;

use ggs_js::{Effects, Event, EventContext, Outcome, Recipient, ScriptError};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::actor::Table;
use super::seats::Seats;
use super::supervise::Crash;
use super::UpgradeError;
use crate::commit::{Commit, Delivery};
use crate::config::Emitted;
use crate::observe::Observation;
use crate::outbox::Outbox;
use crate::protocol::message::ServerMessage;
use crate::store::{GameId, TableRecord, Txn};

/// One transaction in the making: store changes and messages, released together once durable.
#[derive(Default)]
pub(super) struct Step {
    /// The store changes.
    pub(super) txn: Txn,
    /// The messages, in the order they are released.
    pub(super) deliveries: Vec<Delivery>,
    /// The script's emits, handed to the application after the messages.
    pub(super) emits: Vec<Emitted>,
    /// Told once the commit is durable.
    pub(super) done: Option<oneshot::Sender<()>>,
    /// The table's record changed (its game or tick): it is written again.
    pub(super) record_changed: bool,
}

impl Step {
    /// Adds a message for `outbox`.
    pub(super) fn deliver(&mut self, outbox: &Outbox, message: ServerMessage) {
        self.deliveries.push(Delivery {
            outbox: outbox.clone(),
            message,
        });
    }

    /// Adds messages the seats routed ([`Seats::post`] and its siblings).
    pub(super) fn post(&mut self, routed: impl IntoIterator<Item = (Outbox, ServerMessage)>) {
        let routed = routed.into_iter();
        let routed = routed.map(|(outbox, message)| Delivery { outbox, message });
        self.deliveries.extend(routed);
    }

    /// The commit of table `id`, with its `record` when the record is new or changed.
    fn into_commit(mut self, id: &str, record: &TableRecord, new_table: bool) -> Commit {
        if new_table || self.record_changed {
            self.txn.create_table(id, record);
        }
        Commit {
            txn: self.txn,
            deliveries: self.deliveries,
            emits: self.emits,
            done: self.done,
        }
    }
}

/// An event waiting to run, with what its outcome means and its transaction so far.
pub(super) struct Pending {
    /// The event.
    pub(super) event: Event,
    /// Told the error if the event fails.
    pub(super) sender: Option<Outbox>,
    /// For a `Define`: the catalogue version its source is, if it is one.
    pub(super) game: Option<GameId>,
    /// Store changes and messages that go before the event's own (a join's seat and `hello`).
    pub(super) step: Step,
    /// A GGS 1.1 command's player and `Seq`: applied with the event, whatever its outcome.
    pub(super) seq: Option<(std::sync::Arc<str>, u64)>,
    /// For an upgrade: told the version the table ran before, or why it did not upgrade.
    pub(super) upgraded: Option<oneshot::Sender<Result<Option<GameId>, UpgradeError>>>,
}

impl Pending {
    /// `event`, with nobody to tell if it fails and nothing before it.
    pub(super) fn new(event: Event) -> Self {
        Pending {
            event,
            sender: None,
            game: None,
            step: Step::default(),
            seq: None,
            upgraded: None,
        }
    }

    /// The event is `player`'s command numbered `seq`.
    pub(super) fn numbered(mut self, player: std::sync::Arc<str>, seq: Option<u64>) -> Self {
        self.seq = seq.map(|n| (player, n));
        self
    }

    /// The event came from the player of `outbox`, who gets its error.
    pub(super) fn sent_by(mut self, outbox: &Outbox) -> Self {
        self.sender = Some(outbox.clone());
        self
    }

    /// The event defines the catalogue game `game`.
    pub(super) fn game(mut self, game: Option<GameId>) -> Self {
        self.game = game;
        self
    }

    /// The event's transaction begins with `step`.
    pub(super) fn in_step(mut self, step: Step) -> Self {
        self.step = step;
        self
    }
}

/// What an event's outcome changed at the table itself, for its actor to take on.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Settled {
    /// A define succeeded: the table runs the new script (now in its record).
    pub(super) defined: bool,
    /// The script set its tick interval to this many milliseconds (0: stopped).
    pub(super) tick: Option<u32>,
}

/// Adds the outcome of `pending`'s event at table `id` to its transaction. A failed event
/// writes nothing and tells only its sender why. A successful one adds its storage writes and
/// state; a define also the script (into `record` too) and `defined ok` for every seated
/// player; then the script's messages, in the order sent, and its emits, in the order made.
/// Every message goes through the seats ([`Seats::post`]): a 1.1 seat's are numbered and kept
/// (connected or away); a 1.0 seat gets its messages only while connected. A numbered
/// command is applied, whatever its outcome.
pub(super) fn settle(
    id: &str,
    record: &mut TableRecord,
    seats: &mut Seats,
    pending: &mut Pending,
    result: Result<Effects, ScriptError>,
) -> Settled {
    if let Some((player, seq)) = &pending.seq {
        seats.applied(player, *seq);
    }
    let step = &mut pending.step;
    let effects = match result {
        Ok(effects) => effects,
        Err(e) => {
            tracing::debug!(table = %id, "event failed: {e}");
            if let Some(sender) = &pending.sender {
                let message = match pending.event {
                    Event::Define { .. } => ServerMessage::new("defined", format!("error {e}")),
                    _ => ServerMessage::error(e.code(), Some(&e.to_string())),
                };
                step.post([seats.post_outbox(sender, message)]);
            }
            return Settled::default();
        }
    };
    let mut settled = Settled::default();
    if let Event::Upgrade { source, .. } = &pending.event {
        // Like a define, but nobody is told: the new version's `onUpgrade` speaks for itself.
        record.game = pending.game.clone();
        record.script = Some(source.clone());
        step.txn.set_script(id, source);
        step.record_changed = true;
        settled.defined = true;
    }
    if let Event::Define { source } = &pending.event {
        let game = pending.game.as_ref();
        if record.game.as_ref() != game {
            record.game = game.cloned();
            step.record_changed = true;
        }
        record.script = Some(source.clone());
        step.txn.set_script(id, source);
        step.post(seats.post_all(&ServerMessage::new("defined", "ok")));
        settled.defined = true;
    }
    step.txn.storage_writes(id, &effects.writes);
    if let Some(state) = &effects.state {
        step.txn.set_state(id, state);
    }
    if let Some(tick) = effects.tick {
        settled.tick = Some(tick);
        step.record_changed = true;
    }
    for m in effects.messages {
        let message = ServerMessage::new(&m.command, m.args);
        match &m.to {
            Recipient::All => step.post(seats.post_all(&message)),
            Recipient::Player(player) => step.post(seats.post(player, message)),
        }
    }
    if !effects.emits.is_empty() {
        let table: std::sync::Arc<str> = std::sync::Arc::from(id);
        step.emits
            .extend(effects.emits.into_iter().map(|e| Emitted {
                table: table.clone(),
                name: e.name,
                payload: e.payload,
            }));
    }
    settled
}

impl Table {
    /// Runs `batch` in order, each event its own transaction and commit, in one trip to the VM
    /// thread. Every event of the table goes through here.
    pub(super) async fn run(&mut self, batch: Vec<Pending>) -> Result<(), Crash> {
        let n = batch.len();
        for pending in batch.into_iter().rev() {
            self.inflight.push_front(pending);
        }
        self.drain(n).await
    }

    /// Runs the first `n` events in flight: one trip to the VM thread for all of them, and
    /// one more for those after an event whose VM was lost (the VM ran none of them).
    pub(super) async fn drain(&mut self, n: usize) -> Result<(), Crash> {
        let mut left = n.min(self.inflight.len());
        while left > 0 {
            let events = self.inflight.iter().take(left);
            let events = events.map(|p| p.event.clone()).collect();
            let mut outcomes = self.trip(events).await?.into_iter();
            while left > 0 {
                // An event stays in flight until it settles: if the table crashes, those
                // still in flight run again on the rebuilt table (their effects in the lost
                // VM were never committed). The one settling now is not run again.
                let Some(pending) = self.inflight.pop_front() else {
                    break;
                };
                left -= 1;
                let outcome = outcomes.next().unwrap_or_else(unavailable);
                let lost = outcome.result.as_ref().is_err_and(ScriptError::is_lost);
                let step = self.conclude(pending, outcome).await?;
                self.submit(step);
                if lost {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Runs one event like [`Table::run`] but hands back its transaction instead of
    /// submitting it, for a transaction of two events (a new table's game, then its creator's
    /// join).
    pub(super) async fn run_uncommitted(&mut self, pending: Pending) -> Result<Step, Crash> {
        let outcome = self.trip(vec![pending.event.clone()]).await?.pop();
        self.conclude(pending, outcome.unwrap_or_else(unavailable))
            .await
    }

    /// One trip to the VM thread: `events` run in order, each its own transaction. The
    /// outcomes stop after an event whose VM was lost (none at all if its thread is gone).
    pub(super) async fn trip(&mut self, events: Vec<Event>) -> Result<Vec<Outcome>, Crash> {
        if self.vm.is_none() {
            // Dropped after an event that held its thread too long: rebuilt on the next event.
            Box::pin(self.rebuild()).await?;
        }
        let cx = self.context();
        let Some(vm) = &self.vm else {
            return Err(Crash("no VM".into()));
        };
        let outcomes = vm.run_batch(events, cx).await;
        // When the VM's next timer is due, as of its last event.
        let next_timer = outcomes.last().and_then(|o| o.next_timer);
        self.next_timer = next_timer.map(|d| Instant::now() + d);
        Ok(outcomes)
    }

    /// What the script is told about the world at the next event.
    fn context(&mut self) -> EventContext {
        EventContext {
            players: self.seats.players(),
            server_players: self.deps.connected.load(Ordering::Relaxed),
            identities: self.seats.script_identities(),
        }
    }

    /// The event's final outcome (after the retry policy) settled into its transaction.
    async fn conclude(&mut self, mut pending: Pending, outcome: Outcome) -> Result<Step, Crash> {
        let outcome = self.recover(&pending.event, outcome).await?;
        crate::telemetry::event(outcome.result.as_ref().err());
        if let Err(e) = &outcome.result {
            self.observe_error(&pending.event, e);
        }
        self.info.event();
        if outcome.result.as_ref().is_ok_and(|e| e.fault) {
            panic!("fault injected: the table's task panics");
        }
        let before = self.record.game.clone();
        let upgraded = pending.upgraded.take().map(|done| {
            let result = match &outcome.result {
                Ok(_) => Ok(before),
                Err(e) => Err(UpgradeError::Script {
                    code: e.code(),
                    message: e.to_string(),
                }),
            };
            (done, result)
        });
        let settled = settle(
            &self.id,
            &mut self.record,
            &mut self.seats,
            &mut pending,
            outcome.result,
        );
        if let Some((done, result)) = upgraded {
            // Told once the upgrade is durable (a failed one commits nothing, but waits its
            // turn all the same).
            let (durable, flushed) = oneshot::channel();
            pending.step.done = Some(durable);
            tokio::spawn(async move {
                let _ = flushed.await;
                let _ = done.send(result);
            });
        }
        if settled.defined {
            self.info.defined(pending.game.as_ref());
        }
        if let Some(tick) = settled.tick {
            self.set_tick(tick);
        }
        Ok(pending.step)
    }

    /// Tells observers an event of the script failed (not a command to a table without a
    /// script: there is no script to blame).
    fn observe_error(&self, event: &Event, e: &ScriptError) {
        if matches!(e, ScriptError::NoScript) {
            return;
        }
        let player = match event {
            Event::Joined { player }
            | Event::Left { player }
            | Event::Reconnected { player }
            | Event::Command { player, .. } => Some(player.as_str()),
            Event::Define { .. }
            | Event::Upgrade { .. }
            | Event::Resume
            | Event::Tick
            | Event::Timer => None,
        };
        self.deps.observers.send(|| Observation::ScriptError {
            table: self.id.clone(),
            player: player.map(std::sync::Arc::from),
            code: e.code().to_string(),
            message: e.to_string(),
        });
    }

    /// Hands one transaction to the committer (a new table's record goes with its first).
    pub(super) fn submit(&mut self, mut step: Step) {
        self.seats.stage(&self.id, &mut step.txn);
        let new_table = std::mem::take(&mut self.unrecorded);
        let commit = step.into_commit(&self.id, &self.record, new_table);
        self.deps.committer.submit(commit);
    }

    /// Waits until every commit this table submitted so far is durable.
    pub(super) async fn flushed(&mut self) {
        let (done, rx) = oneshot::channel();
        self.submit(Step {
            done: Some(done),
            ..Step::default()
        });
        let _ = rx.await;
    }
}

/// The outcome of an event the VM never answered for (its thread is gone).
fn unavailable() -> Outcome {
    Outcome::failed(ScriptError::Unavailable)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ggs_js::{Emit, Message, Namespace, Write};
    use tokio::sync::mpsc;

    use super::*;
    use crate::protocol::message::Version;
    use crate::protocol::token::Token;

    const TABLE: &str = "7a1c2b1e-0000-4000-8000-000000000001";

    /// Three seats: `a` and `b` connected, `c` away; the receivers of `a` and `b`.
    fn seated() -> (Seats, Vec<(&'static str, mpsc::Receiver<ServerMessage>)>) {
        let mut seats = Seats::default();
        let mut receivers = Vec::new();
        for (i, player) in ["a", "b", "c"].into_iter().enumerate() {
            let (outbox, rx, _) = Outbox::new(16);
            seats.sit(
                Arc::from(player),
                &Token::generate(),
                outbox,
                i as u64,
                Version::V1_0,
            );
            receivers.push((player, rx));
        }
        seats.leave("c", 2, Instant::now());
        (seats, receivers)
    }

    /// The step's deliveries in order, as (recipient, command, body).
    fn received(
        step: Step,
        receivers: &mut [(&'static str, mpsc::Receiver<ServerMessage>)],
    ) -> Vec<(&'static str, String, String)> {
        let mut got = Vec::new();
        for d in step.deliveries {
            d.outbox.deliver(d.message);
            for (player, rx) in receivers.iter_mut() {
                if let Ok(m) = rx.try_recv() {
                    let body = String::from_utf8_lossy(&m.body).into_owned();
                    got.push((*player, m.command.to_string(), body));
                }
            }
        }
        got
    }

    fn record() -> TableRecord {
        TableRecord {
            created_ms: 1,
            tick_ms: 0,
            host: Some("a".into()),
            game: None,
            script: Some("old".into()),
        }
    }

    fn command(player: &str) -> Event {
        Event::Command {
            player: player.into(),
            command: "move".into(),
            args: "1".into(),
        }
    }

    fn message(to: Recipient, command: &str, args: &str) -> Message {
        Message {
            to,
            command: command.into(),
            args: args.into(),
        }
    }

    fn triple(to: &'static str, command: &str, body: &str) -> (&'static str, String, String) {
        (to, command.to_string(), body.to_string())
    }

    #[test]
    fn a_successful_event_becomes_its_writes_then_its_messages_in_order() {
        let (mut seats, mut receivers) = seated();
        let sender = seats.outbox_of("a").unwrap().clone();
        let mut pending = Pending::new(command("a")).sent_by(&sender);
        let token = Token::generate();
        pending.step.txn.seat(TABLE, "a", Some(token.hash()));
        let writes = vec![
            Write {
                ns: Namespace::Local,
                key: "k".into(),
                value: Some("v".into()),
            },
            Write {
                ns: Namespace::World,
                key: "gone".into(),
                value: None,
            },
        ];
        let effects = Effects {
            writes: writes.clone(),
            messages: vec![
                message(Recipient::Player("b".into()), "to-b", "1"),
                message(Recipient::All, "all", "2"),
                message(Recipient::Player("c".into()), "to-away", "3"),
                message(Recipient::Player("zz".into()), "to-nobody", "4"),
                message(Recipient::Player("a".into()), "to-a", "5"),
            ],
            emits: vec![
                Emit {
                    name: "score".into(),
                    payload: serde_json::json!({"a": 3}),
                },
                Emit {
                    name: "ended".into(),
                    payload: serde_json::Value::Null,
                },
            ],
            state: Some(r#"{"n":1}"#.into()),
            tick: Some(50),
            fault: false,
        };
        let mut record = record();
        let settled = settle(TABLE, &mut record, &mut seats, &mut pending, Ok(effects));
        assert_eq!(
            settled,
            Settled {
                defined: false,
                tick: Some(50)
            }
        );
        assert!(pending.step.record_changed, "the tick is in the record");
        assert_eq!(
            record,
            self::record(),
            "only a define changes the record here"
        );
        let mut txn = Txn::default();
        txn.seat(TABLE, "a", Some(token.hash()));
        txn.storage_writes(TABLE, &writes);
        txn.set_state(TABLE, r#"{"n":1}"#);
        assert_eq!(
            pending.step.txn, txn,
            "what went before, then the event's writes"
        );
        let emitted = |name: &str, payload: serde_json::Value| Emitted {
            table: Arc::from(TABLE),
            name: name.into(),
            payload,
        };
        assert_eq!(
            pending.step.emits,
            vec![
                emitted("score", serde_json::json!({"a": 3})),
                emitted("ended", serde_json::Value::Null),
            ],
            "the emits, in order, with their table"
        );
        assert_eq!(
            received(pending.step, &mut receivers),
            vec![
                triple("b", "to-b", "1"),
                triple("a", "all", "2"),
                triple("b", "all", "2"),
                triple("a", "to-a", "5"),
            ],
            "messages to players who are away or absent are dropped"
        );
    }

    #[test]
    fn a_failed_event_tells_only_its_sender_and_writes_nothing() {
        let (mut seats, mut receivers) = seated();
        let sender = seats.outbox_of("b").unwrap().clone();
        let mut pending = Pending::new(command("b")).sent_by(&sender);
        let error = ScriptError::Exception("boom".into());
        let mut record = record();
        let settled = settle(TABLE, &mut record, &mut seats, &mut pending, Err(error));
        assert_eq!(settled, Settled::default());
        assert!(pending.step.txn.is_empty());
        assert!(pending.step.emits.is_empty());
        assert!(!pending.step.record_changed);
        assert_eq!(
            received(pending.step, &mut receivers),
            vec![triple("b", "error", "script_error boom")]
        );
        // A failed event nobody sent (a tick) tells nobody.
        let mut tick = Pending::new(Event::Tick);
        settle(
            TABLE,
            &mut record,
            &mut seats,
            &mut tick,
            Err(ScriptError::NoScript),
        );
        assert!(tick.step.deliveries.is_empty() && tick.step.txn.is_empty());
    }

    #[test]
    fn a_define_sets_the_script_and_tells_every_connected_player() {
        let (mut seats, mut receivers) = seated();
        let sender = seats.outbox_of("b").unwrap().clone();
        let chat = GameId {
            name: "chat".into(),
            version: 2,
        };
        let event = Event::Define {
            source: "new".into(),
        };
        let mut pending = Pending::new(event)
            .sent_by(&sender)
            .game(Some(chat.clone()));
        let effects = Effects {
            messages: vec![message(Recipient::All, "welcome", "")],
            ..Effects::default()
        };
        let mut record = record();
        let settled = settle(TABLE, &mut record, &mut seats, &mut pending, Ok(effects));
        assert!(settled.defined);
        assert_eq!(record.script.as_deref(), Some("new"));
        assert_eq!(record.game, Some(chat));
        assert!(pending.step.record_changed, "the record names the game");
        let mut txn = Txn::default();
        txn.set_script(TABLE, "new");
        assert_eq!(pending.step.txn, txn);
        assert_eq!(
            received(pending.step, &mut receivers),
            vec![
                triple("a", "defined", "ok"),
                triple("b", "defined", "ok"),
                triple("a", "welcome", ""),
                triple("b", "welcome", ""),
            ]
        );
    }

    #[test]
    fn a_failed_define_tells_its_sender_and_keeps_the_old_script() {
        let (mut seats, mut receivers) = seated();
        let sender = seats.outbox_of("a").unwrap().clone();
        let event = Event::Define {
            source: "bad(".into(),
        };
        let mut pending = Pending::new(event).sent_by(&sender);
        let mut record = record();
        let error = ScriptError::Exception("SyntaxError".into());
        let settled = settle(TABLE, &mut record, &mut seats, &mut pending, Err(error));
        assert!(!settled.defined);
        assert_eq!(record, self::record());
        assert_eq!(
            received(pending.step, &mut receivers),
            vec![triple("a", "defined", "error SyntaxError")]
        );
    }

    #[test]
    fn a_new_or_changed_record_goes_with_the_commit() {
        let record = record();
        let mut with_record = Txn::default();
        with_record.create_table(TABLE, &record);
        assert!(Step::default()
            .into_commit(TABLE, &record, false)
            .txn
            .is_empty());
        assert_eq!(
            Step::default().into_commit(TABLE, &record, true).txn,
            with_record
        );
        let changed = Step {
            record_changed: true,
            ..Step::default()
        };
        assert_eq!(changed.into_commit(TABLE, &record, false).txn, with_record);
    }
}
