//! Which seconds of a vehicle's data stream have been seen, live or reissued: runs of samples
//! and the holes between them. Holes are where reissued data may still arrive (the data gaps
//! of `data_gap`); a hole with a login or logout in it is *explained*: not a data gap, and
//! taken as holding no data. Evidence is *settled* over a span when no unexplained hole in it
//! can still be filled, so a verdict on it cannot change any more. Holes stay open until their
//! fill period has passed (`data_gap::decide` closes them).

use crate::model::Secs;

use super::state::{Coverage, Run};

/// Samples at most this far apart belong to one run. Lost single reports (10 s) do not make
/// holes; a hole is at least a minute without data.
pub(crate) const JOIN: u32 = 60;

impl Coverage {
    fn len(&self) -> usize {
        self.runs.iter().take_while(|r| !r.start.is_never()).count()
    }

    /// Whether second `t` lies inside a run (seen before, or a hole too short to matter).
    pub fn contains(&self, t: Secs) -> bool {
        self.runs[..self.len()]
            .iter()
            .any(|r| r.start <= t && t <= r.end)
    }

    /// Records a sample at `t` with the odometer in 0.1 km (0 = unknown).
    pub fn add(&mut self, t: Secs, odo: u32) {
        let n = self.len();
        if n == 0 {
            self.floor = t;
        }
        let runs = &mut self.runs[..n];
        if runs.iter().any(|r| r.start <= t && t <= r.end) {
            return;
        }
        let next = runs.iter().position(|r| r.start > t).unwrap_or(n);
        let joins_prev = next > 0 && t.0 - runs[next - 1].end.0 <= JOIN;
        let joins_next = next < n && runs[next].start.0 - t.0 <= JOIN;
        match (joins_prev, joins_next) {
            (true, true) => {
                let after = runs[next];
                let prev = &mut runs[next - 1];
                prev.end = after.end;
                prev.odo_end = after.odo_end;
                self.remove(next);
            }
            (true, false) => {
                let prev = &mut runs[next - 1];
                prev.end = t;
                if odo != 0 {
                    prev.odo_end = odo;
                }
            }
            (false, true) => {
                let after = &mut runs[next];
                after.start = t;
                if odo != 0 {
                    after.odo_start = odo;
                }
            }
            (false, false) => {
                let explained = next > 0
                    && next == n
                    && self.last_break > runs[next - 1].end
                    && self.last_break <= t;
                // A run inside a hole splits it; both parts keep what was known of it.
                let explained = explained || (next < n && runs[next].explained);
                let run = Run {
                    start: t,
                    end: t,
                    odo_start: odo,
                    odo_end: odo,
                    explained,
                };
                self.insert(next, run);
            }
        }
        if t < self.floor {
            self.floor = t;
        }
    }

    /// A login or logout at `t`: no data gap spans it.
    pub fn session_break(&mut self, t: Secs) {
        let n = self.len();
        match self.runs[..n].iter().position(|r| r.start > t) {
            Some(next) if next > 0 && self.runs[next - 1].end < t => {
                self.runs[next].explained = true;
            }
            None => self.last_break = self.last_break.max(t),
            _ => {}
        }
    }

    /// Joins run `i` into run `i - 1`, closing the hole between them.
    pub fn join(&mut self, i: usize) {
        let after = self.runs[i];
        let prev = &mut self.runs[i - 1];
        prev.end = after.end;
        prev.odo_end = after.odo_end;
        self.remove(i);
    }

    fn remove(&mut self, i: usize) {
        self.runs.copy_within(i + 1.., i);
        let last = self.runs.len() - 1;
        self.runs[last] = Run::default();
    }

    /// Inserts at `i`, dropping the oldest run when full: what lay before the new oldest run
    /// is then unknown (`floor`), and a gap there can no longer be judged.
    fn insert(&mut self, i: usize, run: Run) {
        let n = self.len();
        if n == self.runs.len() {
            if i == 0 {
                return;
            }
            self.remove(0);
            self.floor = self.runs[0].start;
            return self.insert(i - 1, run);
        }
        self.runs.copy_within(i..n, i + 1);
        self.runs[i] = run;
    }

    /// Whether no hole can still change what is known of `[from, to]`: every second of it lies
    /// in a run or an explained hole, and nothing before the first run is asked about.
    pub fn settled(&self, from: Secs, to: Secs) -> bool {
        let n = self.len();
        if n == 0 || self.floor.is_never() || from < self.floor || to > self.runs[n - 1].end {
            return false;
        }
        self.runs[..n]
            .windows(2)
            .all(|pair| pair[1].explained || pair[1].start <= from || pair[0].end >= to)
    }

    /// The hole before run `i` (from 1): the runs on either side of it.
    pub fn hole(&self, i: usize) -> Option<(Run, Run)> {
        (i >= 1 && i < self.len()).then(|| (self.runs[i - 1], self.runs[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(c: &Coverage) -> Vec<(u32, u32)> {
        c.runs[..c.len()]
            .iter()
            .map(|r| (r.start.0, r.end.0))
            .collect()
    }

    #[test]
    fn samples_join_runs_in_any_order() {
        let mut forward = Coverage::default();
        let mut backward = Coverage::default();
        let times: Vec<u32> = (1000..1100).chain(5000..5100).chain(1100..5000).collect();
        for &t in &times {
            forward.add(Secs(t), 0);
        }
        for &t in times.iter().rev() {
            backward.add(Secs(t), 0);
        }
        assert_eq!(runs(&forward), vec![(1000, 5099)]);
        assert_eq!(runs(&backward), vec![(1000, 5099)]);
    }

    #[test]
    fn a_session_break_explains_a_hole() {
        let mut c = Coverage::default();
        c.add(Secs(1000), 0);
        c.add(Secs(9000), 0);
        assert_eq!(runs(&c).len(), 2);
        assert!(!c.settled(Secs(1000), Secs(9000)));
        c.session_break(Secs(2000));
        assert!(c.runs[1].explained);
        assert!(c.settled(Secs(1000), Secs(9000)));
        assert!(!c.contains(Secs(5000)), "reissue may still fill it");
    }

    #[test]
    fn a_break_before_the_next_run_is_remembered() {
        let mut c = Coverage::default();
        c.add(Secs(1000), 0);
        c.session_break(Secs(2000));
        c.add(Secs(9000), 0);
        assert!(c.runs[1].explained);
    }

    #[test]
    fn overflow_drops_the_oldest_run_and_raises_the_floor() {
        let mut c = Coverage::default();
        for t in [1000, 3000, 5000, 7000, 9000] {
            c.add(Secs(t), 0);
        }
        assert_eq!(
            runs(&c),
            vec![(3000, 3000), (5000, 5000), (7000, 7000), (9000, 9000)]
        );
        assert_eq!(c.floor, Secs(3000));
        assert!(!c.settled(Secs(1000), Secs(3000)));
    }
}
