//! The sentinel watcher. Sentinels perform failovers; the operator only
//! observes them: it subscribes to every sentinel's event channels
//! (`+sdown`, `+odown`, `+new-epoch`, `+try-failover`, `+switch-master`, ...)
//! and polls `SENTINEL get-master-addr-by-name` (so a failover that happened
//! while the operator was away is still seen), and turns what it sees into
//! exactly one [`Output::FailoverCompleted`] per failover.
//!
//! [`Tracker`] is the pure state machine; [`spawn_watcher`] feeds it from
//! real sentinels and reports its outputs on a channel. The Kubernetes side
//! (labels, status, Events) lives in [`crate::observer`].

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::role::PodReport;

/// One message from a sentinel's Pub/Sub event channels.
#[derive(Clone, Debug, PartialEq)]
pub enum SentinelEvent {
    /// `+sdown`/`+odown` about a master (`objective` for `+odown`).
    MasterDown {
        name: String,
        address: String,
        objective: bool,
    },
    /// `-sdown`/`-odown` about a master: it came back.
    MasterUp {
        name: String,
        address: String,
        objective: bool,
    },
    /// `+new-epoch <epoch>`.
    NewEpoch(i64),
    /// `+try-failover` / `+elected-leader` / `+failover-state-*` about a master.
    FailoverStarted { name: String, address: String },
    /// `+switch-master <name> <old ip> <old port> <new ip> <new port>`.
    SwitchMaster {
        name: String,
        old: String,
        new: String,
    },
    /// Anything else (replica and sentinel events, `+failover-end`, ...).
    Other,
}

/// Parses a sentinel event from its channel name and payload.
pub fn parse_event(channel: &str, payload: &str) -> SentinelEvent {
    let words: Vec<&str> = payload.split_whitespace().collect();
    // "<type> <name> <ip> <port> ..." where type is master for the events we track.
    let master_instance = || match words.as_slice() {
        ["master", name, ip, port, ..] => Some((name.to_string(), format!("{ip}:{port}"))),
        _ => None,
    };
    match channel {
        "+sdown" | "+odown" => match master_instance() {
            Some((name, address)) => SentinelEvent::MasterDown {
                name,
                address,
                objective: channel == "+odown",
            },
            None => SentinelEvent::Other,
        },
        "-sdown" | "-odown" => match master_instance() {
            Some((name, address)) => SentinelEvent::MasterUp {
                name,
                address,
                objective: channel == "-odown",
            },
            None => SentinelEvent::Other,
        },
        "+new-epoch" => words
            .first()
            .and_then(|w| w.parse().ok())
            .map_or(SentinelEvent::Other, SentinelEvent::NewEpoch),
        "+try-failover" | "+elected-leader" | "+failover-state-select-slave" => {
            match master_instance() {
                Some((name, address)) => SentinelEvent::FailoverStarted { name, address },
                None => SentinelEvent::Other,
            }
        }
        "+switch-master" => match words.as_slice() {
            [name, old_ip, old_port, new_ip, new_port, ..] => SentinelEvent::SwitchMaster {
                name: name.to_string(),
                old: format!("{old_ip}:{old_port}"),
                new: format!("{new_ip}:{new_port}"),
            },
            _ => SentinelEvent::Other,
        },
        _ => SentinelEvent::Other,
    }
}

/// How many sentinels answered a poll (and monitor the master).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentinelReach {
    pub answering: usize,
    pub total: usize,
}

impl SentinelReach {
    /// Without a majority of sentinels no failover can be authorized.
    pub fn problem(&self) -> Option<String> {
        let majority = self.total / 2 + 1;
        (self.answering < majority).then(|| {
            format!(
                "only {} of {} sentinels answer: no failover can be authorized until a majority ({majority}) is back",
                self.answering, self.total
            )
        })
    }
}

/// A completed failover, with addresses as the sentinels report them.
#[derive(Clone, Debug, PartialEq)]
pub struct Failover {
    pub detected_at: Timestamp,
    pub completed_at: Timestamp,
    pub old_master: String,
    pub new_master: String,
    pub epoch: Option<i64>,
    pub trigger: &'static str,
}

/// What the tracker reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// The master the sentinels agree on, at start and after every change.
    Master(String),
    /// The master is objectively down (Warning `MasterDown`).
    MasterDown { address: String, at: Timestamp },
    /// The sentinels started a failover (Normal `FailoverStarted`).
    FailoverStarted { address: String, at: Timestamp },
    /// The failover finished: the sentinels switched master.
    FailoverCompleted(Failover),
    /// How many sentinels answered the last poll.
    Sentinels(SentinelReach),
    /// What each reachable redis pod reported at the last poll.
    Pods(Vec<PodReport>),
    /// `SENTINEL RESET` was sent to this sentinel (`host:port`) because it
    /// remembers more sentinels or replicas than exist.
    SentinelReset { sentinel: String, reason: String },
}

#[derive(Debug, Default)]
struct Pending {
    detected_at: Option<Timestamp>,
    odown: bool,
    started: bool,
    down_reported: bool,
}

/// Turns sentinel events and polls into failover records. Every sentinel
/// publishes the same failover (each sees `+sdown`, each learns the new
/// config and announces `+switch-master`), so records are keyed on the
/// master changing, which happens once.
#[derive(Debug)]
pub struct Tracker {
    master_name: String,
    current: Option<String>,
    /// Config epoch under which `current` became master, to tell a stale
    /// poll answer (a sentinel not yet told of the switch) from a newer one.
    current_epoch: i64,
    pending: Pending,
    epoch: Option<i64>,
}

impl Tracker {
    pub fn new(master_name: &str) -> Self {
        Tracker {
            master_name: master_name.to_string(),
            current: None,
            current_epoch: 0,
            pending: Pending::default(),
            epoch: None,
        }
    }

    pub fn current_master(&self) -> Option<&str> {
        self.current.as_deref()
    }

    pub fn on_event(&mut self, event: SentinelEvent, now: Timestamp) -> Vec<Output> {
        match event {
            SentinelEvent::MasterDown {
                name,
                address,
                objective,
            } if name == self.master_name => self.on_master_down(address, objective, now),
            SentinelEvent::MasterUp {
                name, objective, ..
            } if name == self.master_name => {
                // The master came back before any failover started: nothing to record.
                if !objective && !self.pending.started {
                    self.pending = Pending::default();
                }
                Vec::new()
            }
            SentinelEvent::NewEpoch(epoch) => {
                self.epoch = Some(self.epoch.map_or(epoch, |e| e.max(epoch)));
                Vec::new()
            }
            SentinelEvent::FailoverStarted { name, address } if name == self.master_name => {
                let first = !self.pending.started;
                self.pending.started = true;
                self.pending.detected_at.get_or_insert(now);
                if first {
                    vec![Output::FailoverStarted { address, at: now }]
                } else {
                    Vec::new()
                }
            }
            SentinelEvent::SwitchMaster { name, old, new } if name == self.master_name => {
                if self.current.as_deref() != Some(new.as_str()) {
                    // The failover's epoch; at least one more than the last.
                    self.current_epoch = self.epoch.unwrap_or(0).max(self.current_epoch + 1);
                }
                self.on_new_master(Some(old), new, now)
            }
            _ => Vec::new(),
        }
    }

    fn on_master_down(&mut self, address: String, objective: bool, now: Timestamp) -> Vec<Output> {
        if self
            .current
            .as_deref()
            .is_some_and(|current| current != address)
        {
            // A stale report about a former master.
            return Vec::new();
        }
        self.pending.detected_at.get_or_insert(now);
        if objective {
            self.pending.odown = true;
            if !self.pending.down_reported {
                self.pending.down_reported = true;
                return vec![Output::MasterDown { address, at: now }];
            }
        }
        Vec::new()
    }

    /// The master the best-informed sentinel reports at a poll, with its
    /// config epoch (None: no answer). An answer older than the master
    /// already known comes from a sentinel that has not heard of the
    /// switch yet and is ignored.
    pub fn on_poll(&mut self, answer: Option<(String, i64)>, now: Timestamp) -> Vec<Output> {
        let Some((master, config_epoch)) = answer else {
            return Vec::new();
        };
        if self.current.is_none() {
            self.current_epoch = config_epoch;
            return self.on_new_master(None, master, now);
        }
        if self.current.as_deref() == Some(master.as_str()) || config_epoch <= self.current_epoch {
            return Vec::new();
        }
        self.current_epoch = config_epoch;
        self.epoch = Some(self.epoch.map_or(config_epoch, |e| e.max(config_epoch)));
        self.on_new_master(None, master, now)
    }

    fn on_new_master(
        &mut self,
        reported_old: Option<String>,
        new: String,
        now: Timestamp,
    ) -> Vec<Output> {
        let Some(current) = self.current.clone() else {
            // First sight: the operator just started. A +switch-master
            // seen first is still a failover.
            self.current = Some(new.clone());
            let mut outputs = vec![Output::Master(new.clone())];
            if let Some(old) = reported_old.filter(|old| *old != new) {
                outputs.push(self.complete(old, new, now));
            }
            return outputs;
        };
        if current == new {
            return Vec::new();
        }
        self.current = Some(new.clone());
        let old = reported_old.unwrap_or(current);
        vec![Output::Master(new.clone()), self.complete(old, new, now)]
    }

    fn complete(&mut self, old: String, new: String, now: Timestamp) -> Output {
        let pending = std::mem::take(&mut self.pending);
        let trigger = if pending.odown {
            "odown"
        } else if pending.started {
            "manual"
        } else {
            "observed"
        };
        Output::FailoverCompleted(Failover {
            detected_at: pending.detected_at.unwrap_or(now).min(now),
            completed_at: now,
            old_master: old,
            new_master: new,
            epoch: self.epoch,
            trigger,
        })
    }
}

/// Where the watcher looks.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchTarget {
    pub master_name: String,
    /// `(host, port)` of every sentinel (stable DNS names in Kubernetes).
    pub sentinels: Vec<(String, u16)>,
    /// `(ordinal, host, port)` of every redis pod, for split-brain checks.
    pub pods: Vec<(i32, String, u16)>,
    pub password: Option<String>,
    pub poll_interval: Duration,
}

const IO_TIMEOUT: Duration = Duration::from_secs(3);

enum Input {
    Event(SentinelEvent),
    Poll(Option<(String, i64)>, Vec<PodReport>, SentinelReach),
    Reset { sentinel: String, reason: String },
}

/// Starts the watcher; outputs arrive on the returned channel. The watcher
/// stops when the receiver is dropped or the handle is aborted.
pub fn spawn_watcher(target: WatchTarget) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<Output>) {
    let (out_tx, out_rx) = mpsc::channel(64);
    let handle = tokio::spawn(run_watcher(target, out_tx));
    (handle, out_rx)
}

async fn run_watcher(target: WatchTarget, out: mpsc::Sender<Output>) {
    let (in_tx, mut in_rx) = mpsc::channel(256);
    let mut tasks = JoinSet::new();
    for (host, port) in target.sentinels.clone() {
        tasks.spawn(subscribe_forever(host, port, in_tx.clone()));
    }
    tasks.spawn(poll_forever(target.clone(), in_tx));
    let mut tracker = Tracker::new(&target.master_name);
    while let Some(input) = in_rx.recv().await {
        let now = Timestamp::now();
        let outputs = match input {
            Input::Event(event) => tracker.on_event(event, now),
            Input::Poll(master, pods, reach) => {
                let mut outputs = tracker.on_poll(master, now);
                outputs.push(Output::Sentinels(reach));
                outputs.push(Output::Pods(pods));
                outputs
            }
            Input::Reset { sentinel, reason } => vec![Output::SentinelReset { sentinel, reason }],
        };
        for output in outputs {
            if out.send(output).await.is_err() {
                return; // nobody listens any more; dropping `tasks` aborts the rest
            }
        }
    }
}

/// Subscribes to one sentinel's events, reconnecting (and so re-resolving
/// its hostname) whenever the connection drops.
async fn subscribe_forever(host: String, port: u16, tx: mpsc::Sender<Input>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match subscribe_once(&host, port, &tx).await {
            Ok(()) => return, // the tracker is gone
            Err(err) => {
                tracing::debug!(sentinel = %host, port, error = %err, "sentinel subscription lost; reconnecting");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe_once(host: &str, port: u16, tx: &mpsc::Sender<Input>) -> redis::RedisResult<()> {
    let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
    let mut pubsub = timeout(client.get_async_pubsub()).await??;
    timeout(pubsub.psubscribe("*")).await??;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload().unwrap_or_default();
        let event = parse_event(message.get_channel_name(), &payload);
        if event != SentinelEvent::Other && tx.send(Input::Event(event)).await.is_err() {
            return Ok(());
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::IoError,
        "sentinel closed the connection",
    )))
}

async fn timeout<F: std::future::Future>(future: F) -> redis::RedisResult<F::Output> {
    tokio::time::timeout(IO_TIMEOUT, future)
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "timed out")))
}

async fn poll_forever(target: WatchTarget, tx: mpsc::Sender<Input>) {
    loop {
        let views = futures::future::join_all(
            target
                .sentinels
                .iter()
                .map(|(host, port)| ask_sentinel(host, *port, &target.master_name)),
        )
        .await;
        let agreed = best_informed(&views);
        let pods = futures::future::join_all(target.pods.iter().map(|(ordinal, host, port)| {
            report_pod(*ordinal, host, *port, target.password.as_deref())
        }))
        .await;
        let pods = pods.into_iter().flatten().collect();
        let reach = SentinelReach {
            answering: views.iter().flatten().count(),
            total: views.len(),
        };
        if tx.send(Input::Poll(agreed, pods, reach)).await.is_err() {
            return;
        }
        let expected = Expected {
            sentinels: target.sentinels.len(),
            replicas: target.pods.len().saturating_sub(1),
        };
        if let Some((index, reason)) = reset_candidate(&views, expected) {
            let (host, port) = &target.sentinels[index];
            if reset_sentinel(host, *port, &target.master_name).await {
                let sentinel = format!("{host}:{port}");
                if tx.send(Input::Reset { sentinel, reason }).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(target.poll_interval).await;
    }
}

/// What one sentinel reports about the master (`SENTINEL MASTER`).
#[derive(Clone, Debug, PartialEq)]
pub struct SentinelView {
    /// `host:port` of the master.
    pub master: String,
    pub config_epoch: i64,
    pub other_sentinels: usize,
    pub replicas: usize,
    /// e.g. `master`, `s_down,master`, `master,failover_in_progress`.
    pub flags: String,
}

/// How many sentinels and replicas the RedisHA has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expected {
    pub sentinels: usize,
    pub replicas: usize,
}

/// Which sentinel (index) to `SENTINEL RESET`, if any, and why. Only on a
/// proven mismatch (a sentinel remembers MORE sentinels or replicas than
/// exist: departed pods it will never forget by itself), and never while
/// any sentinel sees the master down or a failover running, because a
/// reset drops the failure state and could delay or split a failover.
/// One sentinel per round, so the others keep the quorum.
pub fn reset_candidate(
    views: &[Option<SentinelView>],
    expected: Expected,
) -> Option<(usize, String)> {
    let unsafe_now = views.iter().flatten().any(|v| {
        v.flags
            .split(',')
            .any(|f| matches!(f, "s_down" | "o_down" | "failover_in_progress"))
    });
    if unsafe_now {
        return None;
    }
    views.iter().enumerate().find_map(|(index, view)| {
        let view = view.as_ref()?;
        let known_sentinels = view.other_sentinels + 1;
        if known_sentinels > expected.sentinels {
            return Some((
                index,
                format!(
                    "it knows {known_sentinels} sentinels, {} exist",
                    expected.sentinels
                ),
            ));
        }
        if view.replicas > expected.replicas {
            return Some((
                index,
                format!(
                    "it knows {} replicas, {} exist",
                    view.replicas, expected.replicas
                ),
            ));
        }
        None
    })
}

/// `SENTINEL FAILOVER <name>`: a switchover the sentinels perform (and the
/// watcher records like any failover, with trigger `manual`).
pub async fn request_failover(host: &str, port: u16, master_name: &str) -> redis::RedisResult<()> {
    let failover = async {
        let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(master_name)
            .query_async::<()>(&mut conn)
            .await
    };
    timeout(failover).await?
}

async fn reset_sentinel(host: &str, port: u16, master_name: &str) -> bool {
    let reset = async {
        let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("SENTINEL")
            .arg("RESET")
            .arg(master_name)
            .query_async::<i64>(&mut conn)
            .await
    };
    matches!(tokio::time::timeout(IO_TIMEOUT, reset).await, Ok(Ok(n)) if n > 0)
}

/// The answer of the sentinel with the highest config epoch (it has seen
/// the latest failover); several different masters at that epoch are no
/// answer (the switch is being propagated).
pub fn best_informed(views: &[Option<SentinelView>]) -> Option<(String, i64)> {
    let top = views.iter().flatten().map(|v| v.config_epoch).max()?;
    let mut at_top = views.iter().flatten().filter(|v| v.config_epoch == top);
    let first = at_top.next()?;
    at_top
        .all(|v| v.master == first.master)
        .then(|| (first.master.clone(), top))
}

/// What one sentinel reports (`SENTINEL MASTER`), None when unreachable
/// or when it monitors no such master.
async fn ask_sentinel(host: &str, port: u16, master_name: &str) -> Option<SentinelView> {
    let query = async {
        let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let reply: Vec<String> = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(master_name)
            .query_async(&mut conn)
            .await?;
        Ok::<_, redis::RedisError>(parse_sentinel_master(&reply))
    };
    tokio::time::timeout(IO_TIMEOUT, query).await.ok()?.ok()?
}

/// Reads the flat field/value reply of `SENTINEL MASTER <name>`.
pub fn parse_sentinel_master(reply: &[String]) -> Option<SentinelView> {
    let field = |name: &str| {
        reply
            .chunks(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair.get(1))
    };
    let number = |name: &str| field(name).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some(SentinelView {
        master: format!("{}:{}", field("ip")?, field("port")?),
        config_epoch: number("config-epoch") as i64,
        other_sentinels: number("num-other-sentinels"),
        replicas: number("num-slaves"),
        flags: field("flags").cloned().unwrap_or_default(),
    })
}

/// INFO replication of one redis pod, None when it does not answer.
async fn report_pod(
    ordinal: i32,
    host: &str,
    port: u16,
    password: Option<&str>,
) -> Option<PodReport> {
    let query = async {
        let url = match password {
            Some(password) => format!("redis://:{}@{host}:{port}/", url_escape(password)),
            None => format!("redis://{host}:{port}/"),
        };
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await?;
        Ok::<_, redis::RedisError>(info)
    };
    let info = tokio::time::timeout(IO_TIMEOUT, query).await.ok()?.ok()?;
    Some(parse_replication_info(
        ordinal,
        &format!("{host}:{port}"),
        &info,
    ))
}

/// Reads role and offset out of `INFO replication`.
pub fn parse_replication_info(ordinal: i32, host: &str, info: &str) -> PodReport {
    let field = |name: &str| {
        info.lines().find_map(|line| {
            line.trim_end()
                .strip_prefix(name)?
                .strip_prefix(':')
                .map(str::to_string)
        })
    };
    let is_master = field("role").as_deref() == Some("master");
    let offset = if is_master {
        field("master_repl_offset")
    } else {
        field("slave_repl_offset")
    }
    .and_then(|v| v.parse().ok())
    .unwrap_or(0);
    PodReport {
        ordinal,
        host: host.to_string(),
        is_master,
        offset,
    }
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_800_000_000_000 + ms).expect("valid")
    }

    fn feed(tracker: &mut Tracker, events: &[(i64, &str, &str)]) -> Vec<Output> {
        events
            .iter()
            .flat_map(|(ms, channel, payload)| {
                tracker.on_event(parse_event(channel, payload), at(*ms))
            })
            .collect()
    }

    #[test]
    fn parses_the_event_shapes_sentinel_publishes() {
        assert_eq!(
            parse_event("+odown", "master cache 10.0.0.1 6379 #quorum 2/2"),
            SentinelEvent::MasterDown {
                name: "cache".into(),
                address: "10.0.0.1:6379".into(),
                objective: true
            }
        );
        assert_eq!(
            parse_event(
                "+sdown",
                "slave 10.0.0.2:6379 10.0.0.2 6379 @ cache 10.0.0.1 6379"
            ),
            SentinelEvent::Other
        );
        assert_eq!(parse_event("+new-epoch", "7"), SentinelEvent::NewEpoch(7));
        assert_eq!(
            parse_event("+switch-master", "cache a.svc 6379 b.svc 6379"),
            SentinelEvent::SwitchMaster {
                name: "cache".into(),
                old: "a.svc:6379".into(),
                new: "b.svc:6379".into()
            }
        );
        assert_eq!(
            parse_event("+switch-master", "garbage"),
            SentinelEvent::Other
        );
        assert_eq!(parse_event("+new-epoch", "x"), SentinelEvent::Other);
    }

    #[test]
    fn three_sentinels_reporting_one_failover_make_one_record() {
        let mut tracker = Tracker::new("cache");
        assert_eq!(
            tracker.on_poll(Some(("a:6379".into(), 0)), at(0)),
            vec![Output::Master("a:6379".into())]
        );
        let outputs = feed(
            &mut tracker,
            &[
                (1000, "+sdown", "master cache a 6379"),
                (1010, "+sdown", "master cache a 6379"),
                (1100, "+odown", "master cache a 6379 #quorum 2/2"),
                (1120, "+odown", "master cache a 6379 #quorum 3/2"),
                (1130, "+new-epoch", "1"),
                (1140, "+try-failover", "master cache a 6379"),
                (1150, "+elected-leader", "master cache a 6379"),
                (3000, "+switch-master", "cache a 6379 b 6379"),
                (3010, "+switch-master", "cache a 6379 b 6379"),
                (3020, "+switch-master", "cache a 6379 b 6379"),
            ],
        );
        let completed: Vec<&Failover> = outputs
            .iter()
            .filter_map(|o| {
                if let Output::FailoverCompleted(f) = o {
                    Some(f)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(
            completed,
            [&Failover {
                detected_at: at(1000),
                completed_at: at(3000),
                old_master: "a:6379".into(),
                new_master: "b:6379".into(),
                epoch: Some(1),
                trigger: "odown",
            }]
        );
        let downs = outputs
            .iter()
            .filter(|o| matches!(o, Output::MasterDown { .. }))
            .count();
        let starts = outputs
            .iter()
            .filter(|o| matches!(o, Output::FailoverStarted { .. }))
            .count();
        assert_eq!((downs, starts), (1, 1));
        // A sentinel not yet told of the switch still reports the old master
        // under the old epoch: no flip back. The informed answer is no change.
        assert_eq!(
            tracker.on_poll(Some(("a:6379".into(), 0)), at(3500)),
            vec![]
        );
        assert_eq!(
            tracker.on_poll(Some(("b:6379".into(), 1)), at(4000)),
            vec![]
        );
        assert_eq!(tracker.current_master(), Some("b:6379"));
    }

    #[test]
    fn a_master_that_recovers_before_failover_leaves_no_record() {
        let mut tracker = Tracker::new("cache");
        tracker.on_poll(Some(("a:1".into(), 0)), at(0));
        feed(
            &mut tracker,
            &[
                (10, "+sdown", "master cache a 1"),
                (20, "-sdown", "master cache a 1"),
            ],
        );
        // A later manual failover is detected at its own start, not at the old sdown.
        let outputs = feed(
            &mut tracker,
            &[
                (500, "+new-epoch", "4"),
                (500, "+try-failover", "master cache a 1"),
                (700, "+switch-master", "cache a 1 c 1"),
            ],
        );
        let Some(Output::FailoverCompleted(failover)) = outputs.last() else {
            panic!("no failover in {outputs:?}");
        };
        assert_eq!(failover.trigger, "manual");
        assert_eq!(failover.detected_at, at(500));
        assert_eq!(failover.epoch, Some(4));
    }

    #[test]
    fn a_switch_seen_only_by_polling_is_recorded_as_observed() {
        let mut tracker = Tracker::new("cache");
        tracker.on_poll(Some(("a:1".into(), 0)), at(0));
        assert_eq!(
            tracker.on_poll(None, at(5)),
            vec![],
            "no agreement is no change"
        );
        assert_eq!(
            tracker.on_poll(Some(("b:1".into(), 0)), at(8)),
            vec![],
            "same epoch: a stale or in-flight answer"
        );
        let outputs = tracker.on_poll(Some(("b:1".into(), 2)), at(10));
        assert_eq!(outputs.len(), 2);
        let Output::FailoverCompleted(failover) = &outputs[1] else {
            panic!("{outputs:?}")
        };
        assert_eq!(
            (
                failover.old_master.as_str(),
                failover.new_master.as_str(),
                failover.trigger
            ),
            ("a:1", "b:1", "observed")
        );
        assert_eq!(failover.detected_at, failover.completed_at);
    }

    #[test]
    fn events_for_other_masters_are_ignored() {
        let mut tracker = Tracker::new("cache");
        tracker.on_poll(Some(("a:1".into(), 0)), at(0));
        let outputs = feed(
            &mut tracker,
            &[
                (1, "+odown", "master other a 1"),
                (2, "+switch-master", "other a 1 b 1"),
            ],
        );
        assert_eq!(outputs, vec![]);
        assert_eq!(tracker.current_master(), Some("a:1"));
    }

    fn view(
        master: &str,
        config_epoch: i64,
        other_sentinels: usize,
        replicas: usize,
        flags: &str,
    ) -> Option<SentinelView> {
        Some(SentinelView {
            master: master.into(),
            config_epoch,
            other_sentinels,
            replicas,
            flags: flags.into(),
        })
    }

    #[test]
    fn the_best_informed_sentinel_wins_the_poll() {
        let answers = [
            view("a:1", 1, 2, 2, "master"),
            view("b:1", 2, 2, 2, "master"),
            None,
        ];
        assert_eq!(best_informed(&answers), Some(("b:1".to_string(), 2)));
        let split = [
            view("a:1", 2, 2, 2, "master"),
            view("b:1", 2, 2, 2, "master"),
        ];
        assert_eq!(best_informed(&split), None);
        assert_eq!(best_informed(&[None, None]), None);
        let reply: Vec<String> = [
            "name",
            "cache",
            "ip",
            "10.0.0.9",
            "port",
            "6379",
            "flags",
            "master",
            "num-slaves",
            "2",
            "num-other-sentinels",
            "3",
            "config-epoch",
            "4",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            parse_sentinel_master(&reply),
            view("10.0.0.9:6379", 4, 3, 2, "master")
        );
        assert_eq!(parse_sentinel_master(&["name".to_string()]), None);
    }

    #[test]
    fn sentinel_reset_only_on_a_proven_mismatch_and_never_while_the_master_is_down() {
        let expected = Expected {
            sentinels: 3,
            replicas: 2,
        };
        let healthy = [
            view("m:1", 1, 2, 2, "master"),
            view("m:1", 1, 2, 2, "master"),
            None,
        ];
        assert_eq!(reset_candidate(&healthy, expected), None);
        // Fewer known than exist is no proof of anything (discovery in progress).
        let discovering = [view("m:1", 1, 0, 1, "master")];
        assert_eq!(reset_candidate(&discovering, expected), None);
        // A sentinel that still remembers a departed fourth sentinel.
        let stale = [
            view("m:1", 1, 2, 2, "master"),
            view("m:1", 1, 3, 2, "master"),
        ];
        assert_eq!(
            reset_candidate(&stale, expected),
            Some((1, "it knows 4 sentinels, 3 exist".to_string()))
        );
        let stale_replica = [view("m:1", 1, 2, 3, "master")];
        assert_eq!(
            reset_candidate(&stale_replica, expected),
            Some((0, "it knows 3 replicas, 2 exist".to_string()))
        );
        // The same mismatch while any sentinel sees the master down or failing over: no reset.
        for flags in [
            "s_down,master",
            "o_down,s_down,master",
            "master,failover_in_progress",
        ] {
            let down = [view("m:1", 1, 3, 2, "master"), view("m:1", 1, 2, 2, flags)];
            assert_eq!(reset_candidate(&down, expected), None, "{flags}");
        }
    }

    #[test]
    fn losing_the_sentinel_majority_is_a_problem() {
        assert_eq!(
            SentinelReach {
                answering: 3,
                total: 3
            }
            .problem(),
            None
        );
        assert_eq!(
            SentinelReach {
                answering: 2,
                total: 3
            }
            .problem(),
            None
        );
        let lost = SentinelReach {
            answering: 1,
            total: 3,
        }
        .problem()
        .expect("problem");
        assert!(lost.starts_with("only 1 of 3 sentinels answer"), "{lost}");
        assert!(SentinelReach {
            answering: 2,
            total: 5
        }
        .problem()
        .is_some());
    }

    #[test]
    fn replication_info_is_parsed() {
        let master = parse_replication_info(
            0,
            "h:1",
            "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nmaster_repl_offset:4242\r\n",
        );
        assert!(master.is_master);
        assert_eq!(master.offset, 4242);
        let replica = parse_replication_info(
            1,
            "h:2",
            "role:slave\r\nmaster_host:h\r\nslave_repl_offset:17\r\nmaster_repl_offset:20\r\n",
        );
        assert!(!replica.is_master);
        assert_eq!(replica.offset, 17);
        assert_eq!(url_escape("a b/c"), "a%20b%2Fc");
    }
}
