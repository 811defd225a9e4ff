//! notification-script and client-reconfig-script: a queue of script runs
//! (at most 16 at once, 256 queued), retried with back-off when a script
//! exits with 1, killed after 60 s, as Redis's sentinel does.

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};

use super::events::EventHub;
use crate::log::Level;
use crate::resp::Reply;

const MAX_RUNNING: usize = 16;
const MAX_QUEUE: usize = 256;
const MAX_RETRY: u32 = 10;
pub const MAX_RUNTIME: i64 = 60_000;
pub const RETRY_DELAY: i64 = 30_000;

struct Job {
    argv: Vec<String>,
    retry: u32,
    /// When it may start (scheduled) or when it started (running).
    start_time: i64,
    child: Option<Child>,
}

#[derive(Default)]
pub struct ScriptQueue {
    jobs: VecDeque<Job>,
}

impl ScriptQueue {
    /// Queues a run of `argv[0]` with the other arguments.
    pub fn schedule(&mut self, argv: Vec<String>, now: i64) {
        self.jobs.push_back(Job {
            argv,
            retry: 0,
            start_time: now,
            child: None,
        });
        if self.jobs.len() > MAX_QUEUE {
            // Drop the oldest job that is not running.
            if let Some(i) = self.jobs.iter().position(|j| j.child.is_none()) {
                self.jobs.remove(i);
            }
        }
    }

    pub fn running(&self) -> usize {
        self.jobs.iter().filter(|j| j.child.is_some()).count()
    }

    pub fn queued(&self) -> usize {
        self.jobs.len() - self.running()
    }

    /// Starts what is due, reaps finished runs, kills runs over time.
    pub fn tick(&mut self, events: &mut EventHub, now: i64) {
        let mut running = self.running();
        for j in self.jobs.iter_mut() {
            if running >= MAX_RUNNING {
                break;
            }
            if j.child.is_some() || j.start_time > now {
                continue;
            }
            match Command::new(&j.argv[0])
                .args(&j.argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => {
                    crate::log::log(Level::Debug, &format!("+script-child {}", c.id()));
                    j.child = Some(c);
                    j.start_time = now;
                    running += 1;
                }
                Err(e) => {
                    events.emit(
                        Level::Warning,
                        "-script-error",
                        &format!("{} {} {}", j.argv[0], 0, 99),
                    );
                    crate::warning!("Can't run script {}: {e}", j.argv[0]);
                    j.retry = MAX_RETRY + 1;
                }
            }
        }
        let mut keep = VecDeque::new();
        while let Some(mut j) = self.jobs.pop_front() {
            if j.retry > MAX_RETRY {
                continue;
            }
            let Some(child) = j.child.as_mut() else {
                keep.push_back(j);
                continue;
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    let code = status.code().unwrap_or(0);
                    let signal = status.signal().unwrap_or(0);
                    crate::log::log(
                        Level::Debug,
                        &format!("-script-child {} {} {}", child.id(), code, signal),
                    );
                    if code == 1 && j.retry < MAX_RETRY {
                        // Exit code 1: try again later, with back-off.
                        j.child = None;
                        j.retry += 1;
                        j.start_time = now + RETRY_DELAY * (1 << (j.retry - 1).min(5));
                        keep.push_back(j);
                    } else if code != 0 || signal != 0 {
                        events.emit(
                            Level::Warning,
                            "-script-error",
                            &format!("{} {} {}", j.argv[0], signal, code),
                        );
                    }
                }
                Ok(None) => {
                    if now - j.start_time > MAX_RUNTIME {
                        events.emit(
                            Level::Warning,
                            "-script-timeout",
                            &format!("{} {}", j.argv[0], child.id()),
                        );
                        let _ = child.kill();
                        let _ = child.wait();
                    } else {
                        keep.push_back(j);
                    }
                }
                Err(_) => {}
            }
        }
        self.jobs = keep;
    }

    /// SENTINEL PENDING-SCRIPTS.
    pub fn reply(&self, r: &mut Reply, now: i64) {
        r.array_len(self.jobs.len());
        for j in &self.jobs {
            r.map_len(5);
            r.bulk_str("argv");
            r.array_len(j.argv.len());
            for a in &j.argv {
                r.bulk_str(a);
            }
            r.bulk_str("flags");
            r.bulk_str(if j.child.is_some() {
                "running"
            } else {
                "scheduled"
            });
            r.bulk_str("pid");
            r.bulk_int(j.child.as_ref().map(|c| c.id() as i64).unwrap_or(0));
            if j.child.is_some() {
                r.bulk_str("run-time");
                r.bulk_int(now - j.start_time);
            } else {
                r.bulk_str("run-delay");
                r.bulk_int((j.start_time - now).max(0));
            }
            r.bulk_str("retry-num");
            r.bulk_int(j.retry as i64);
        }
    }
}

impl Drop for ScriptQueue {
    fn drop(&mut self) {
        for j in self.jobs.iter_mut() {
            if let Some(c) = j.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
