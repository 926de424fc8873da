//! Refused connections: when and whether the server keeps its listening
//! socket open.
//!
//! While connections are refused the server closes its listening socket,
//! so a connect gets ECONNREFUSED (what a client sees while a service
//! restarts); when the period ends it binds the same address and port
//! again. Connections already open stay open. The refusal is either a
//! runtime switch ([`Refuse`]) or a periodic schedule on the simulated
//! clock ([`RefuseSchedule`]).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::config::RefuseSchedule;

/// A runtime change of the refusal switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refuse {
    /// Refuse until switched off.
    On,
    /// Stop refusing (a periodic schedule still applies).
    Off,
    /// Refuse for this long of simulated time from now.
    For(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manual {
    Off,
    On,
    Until(DateTime<Utc>),
}

/// What the server should do, and since which change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Control {
    generation: u64,
    manual: Manual,
    /// The periodic schedule and the moment its cycles count from.
    schedule: Option<(DateTime<Utc>, RefuseSchedule)>,
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos().max(1)
}

fn after(now: DateTime<Utc>, nanos: u128) -> DateTime<Utc> {
    let d = TimeDelta::nanoseconds(i64::try_from(nanos).unwrap_or(i64::MAX));
    now.checked_add_signed(d)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Control {
    /// Where in its cycle the schedule is at `now`: (phase, period, down) in
    /// nanoseconds.
    fn phase(&self, now: DateTime<Utc>) -> Option<(u128, u128, u128)> {
        let (anchor, schedule) = self.schedule?;
        let elapsed = (now - anchor).to_std().unwrap_or(Duration::ZERO).as_nanos();
        let period = nanos(schedule.period);
        Some((elapsed % period, period, nanos(schedule.down)))
    }

    /// Whether connections are refused at `now`.
    pub(crate) fn refusing(&self, now: DateTime<Utc>) -> bool {
        let manual = match self.manual {
            Manual::Off => false,
            Manual::On => true,
            Manual::Until(t) => now < t,
        };
        let scheduled = self
            .phase(now)
            .is_some_and(|(phase, period, down)| phase >= period - down);
        manual || scheduled
    }

    /// The next moment after `now` at which [`refusing`](Self::refusing)
    /// may change (`None`: only a new setting changes it).
    pub(crate) fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let until = match self.manual {
            Manual::Until(t) if t > now => Some(t),
            _ => None,
        };
        let scheduled = self.phase(now).map(|(phase, period, down)| {
            if phase >= period - down {
                after(now, period - phase)
            } else {
                after(now, period - down - phase)
            }
        });
        match (until, scheduled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// What the server did: the last setting it applied and whether its
/// socket listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) generation: u64,
    pub(crate) accepting: bool,
}

/// The switch shared by the handle (which sets it) and the accept loop
/// (which follows it).
#[derive(Debug)]
pub(crate) struct ListenerControl {
    control: watch::Sender<Control>,
    applied: watch::Sender<Applied>,
}

impl ListenerControl {
    pub(crate) fn new(schedule: Option<RefuseSchedule>, start: DateTime<Utc>) -> Self {
        let (control, _) = watch::channel(Control {
            generation: 0,
            manual: Manual::Off,
            schedule: schedule.map(|s| (start, s)),
        });
        let (applied, _) = watch::channel(Applied {
            generation: 0,
            accepting: true,
        });
        Self { control, applied }
    }

    /// Changes the switch; returns the new setting's generation.
    pub(crate) fn set(&self, refuse: Refuse, clock: &SimClock) -> u64 {
        let manual = match refuse {
            Refuse::On => Manual::On,
            Refuse::Off => Manual::Off,
            Refuse::For(d) => Manual::Until(after(clock.now(), d.as_nanos())),
        };
        let mut generation = 0;
        self.control.send_modify(|c| {
            c.generation += 1;
            c.manual = manual;
            generation = c.generation;
        });
        generation
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Control> {
        self.control.subscribe()
    }

    /// Records what the accept loop did.
    pub(crate) fn applied(&self, generation: u64, accepting: bool) {
        self.applied.send_if_modified(|a| {
            let new = Applied {
                generation,
                accepting,
            };
            let changed = *a != new;
            *a = new;
            changed
        });
    }

    pub(crate) fn accepting(&self) -> bool {
        self.applied.borrow().accepting
    }

    /// Waits until the accept loop applied setting `generation` (or a later one).
    pub(crate) async fn wait_applied(&self, generation: u64) {
        let mut rx = self.applied.subscribe();
        let _ = rx.wait_for(|a| a.generation >= generation).await;
    }

    /// Waits until the socket listens (`true`) or is closed (`false`).
    pub(crate) async fn wait_accepting(&self, accepting: bool) {
        let mut rx = self.applied.subscribe();
        let _ = rx.wait_for(|a| a.accepting == accepting).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_refuses_the_end_of_each_period() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let control = Control {
            generation: 0,
            manual: Manual::Off,
            schedule: Some((
                start,
                RefuseSchedule {
                    period: Duration::from_secs(60),
                    down: Duration::from_secs(10),
                },
            )),
        };
        let at = |s: i64| start + TimeDelta::seconds(s);
        assert!(!control.refusing(at(0)));
        assert!(!control.refusing(at(49)));
        assert!(control.refusing(at(50)));
        assert!(control.refusing(at(59)));
        assert!(!control.refusing(at(60)));
        assert!(control.refusing(at(115)));
        assert_eq!(control.next_change(at(0)), Some(at(50)));
        assert_eq!(control.next_change(at(55)), Some(at(60)));
        let manual = Control {
            manual: Manual::Until(at(5)),
            schedule: None,
            ..control
        };
        assert!(manual.refusing(at(4)) && !manual.refusing(at(5)));
        assert_eq!(manual.next_change(at(1)), Some(at(5)));
        assert_eq!(manual.next_change(at(6)), None);
    }
}
