//! The collector's phases (Go's `gcphase` plus the sweep states) and the legal transitions
//! between them, as a pure value: no `unsafe`, no globals. `cycle.rs` moves the published
//! phase through `Phase::next` and aborts on an illegal step. See the collector overview (`crate::design::collector`) for what each phase does.

/// A phase of the collection cycle, in cycle order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Between cycles, with nothing left to sweep.
    Idle = 0,
    /// Sweep termination: the previous cycle's spans are being finished.
    SweepTermination = 1,
    /// The unroot pass over the dirty list (concurrent with mutators).
    Unroot = 2,
    /// Mark setup and marking: `MARKING` is set, rooting shades.
    Mark = 3,
    /// Mark termination: `MARKING` cleared, `sweepgen` advanced, goal committed.
    MarkTermination = 4,
    /// Concurrent sweep of the cycle's spans.
    Sweep = 5,
}

/// What happened, driving the phase machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A cycle starts (trigger, `collect()`).
    Start,
    /// Every span of the previous cycle is swept.
    SweepDone,
    /// The dirty list was processed.
    Unrooted,
    /// No grey object is left.
    MarkDone,
    /// Mark termination finished; the world resumes.
    Resumed,
}

impl Phase {
    /// The phase after `event`, or `None` if the event cannot happen in this phase.
    pub(crate) fn next(self, event: Event) -> Option<Phase> {
        use Event::*;
        use Phase::*;
        Some(match (self, event) {
            // A cycle may start while the previous one still sweeps: it finishes the sweep.
            (Idle | Sweep, Start) => SweepTermination,
            (SweepTermination, SweepDone) => Unroot,
            (Unroot, Unrooted) => Mark,
            (Mark, MarkDone) => MarkTermination,
            (MarkTermination, Resumed) => Sweep,
            // Sweeping ends when the last span is swept (also seen between cycles).
            (Sweep | Idle, SweepDone) => Idle,
            _ => return None,
        })
    }

    /// Whether mutators' rooting must shade (`MARKING`) in this phase.
    pub(crate) fn marking(self) -> bool {
        self == Phase::Mark
    }

    pub(crate) fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Idle,
            1 => Phase::SweepTermination,
            2 => Phase::Unroot,
            3 => Phase::Mark,
            4 => Phase::MarkTermination,
            _ => Phase::Sweep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Event::*;
    use super::Phase::*;
    use super::*;

    const ALL: [Phase; 6] = [Idle, SweepTermination, Unroot, Mark, MarkTermination, Sweep];
    const EVENTS: [Event; 5] = [Start, SweepDone, Unrooted, MarkDone, Resumed];

    #[test]
    fn a_cycle_walks_the_phases_in_order() {
        let steps = [Start, SweepDone, Unrooted, MarkDone, Resumed, SweepDone];
        let mut p = Idle;
        let mut seen = vec![p];
        for e in steps {
            p = p
                .next(e)
                .unwrap_or_else(|| panic!("{e:?} illegal in {p:?}"));
            seen.push(p);
        }
        assert_eq!(
            seen,
            vec![
                Idle,
                SweepTermination,
                Unroot,
                Mark,
                MarkTermination,
                Sweep,
                Idle
            ]
        );
    }

    #[test]
    fn transition_table() {
        // (phase, event, next) for every legal pair; everything else is illegal.
        let legal = [
            (Idle, Start, SweepTermination),
            (Sweep, Start, SweepTermination),
            (SweepTermination, SweepDone, Unroot),
            (Unroot, Unrooted, Mark),
            (Mark, MarkDone, MarkTermination),
            (MarkTermination, Resumed, Sweep),
            (Sweep, SweepDone, Idle),
            (Idle, SweepDone, Idle),
        ];
        for p in ALL {
            for e in EVENTS {
                let expected = legal
                    .iter()
                    .find(|(lp, le, _)| *lp == p && *le == e)
                    .map(|l| l.2);
                assert_eq!(p.next(e), expected, "{p:?} on {e:?}");
            }
        }
    }

    #[test]
    fn only_mark_shades_and_encoding_round_trips() {
        for p in ALL {
            assert_eq!(p.marking(), p == Mark);
            assert_eq!(Phase::from_u8(p as u8), p);
        }
        // A cycle cannot start while marking or terminating.
        for p in [SweepTermination, Unroot, Mark, MarkTermination] {
            assert_eq!(p.next(Start), None);
        }
    }
}
