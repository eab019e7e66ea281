//! Which seconds of a vehicle's data stream have been seen, live or reissued: runs of samples
//! and the holes between them. Holes are where reissued data may still arrive (the data gaps
//! of `data_gap`). A login or logout in a hole *explains* it — the gap was not inside one
//! session — and from the first break on, nothing is waited for (the terminal was logged out,
//! or back online). Evidence is *settled* over a span when no hole in it can still be filled,
//! so a verdict on it cannot change any more. Holes stay open until their fill period has
//! passed (`data_gap::decide` closes them).

use crate::model::Secs;

use super::state::{Coverage, Run};

/// Live samples at most this far apart belong to one run: lost single reports (10 s) do not
/// make holes, a hole in live data is at least a minute long. Reissued samples join a run only
/// next to it, so a hole being reissued stays open until its last second has come.
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

    /// Records a sample at `t` with the odometer in 0.1 km (0 = unknown), live or reissued.
    pub fn add(&mut self, t: Secs, odo: u32, live: bool) {
        let join = if live { JOIN } else { 1 };
        let n = self.len();
        // The common case: live data continuing the newest run.
        if n > 0 {
            let last = &mut self.runs[n - 1];
            if t > last.end && t.0 - last.end.0 <= join {
                last.end = t;
                if odo != 0 {
                    last.odo_end = odo;
                }
                if !self.breaks[0].is_never() {
                    self.forget_covered_breaks();
                }
                return;
            }
        }
        if n == 0 || t < self.floor {
            self.floor = t;
        }
        let runs = &mut self.runs[..n];
        if runs.iter().any(|r| r.start <= t && t <= r.end) {
            return;
        }
        let next = runs.iter().position(|r| r.start > t).unwrap_or(n);
        let joins_prev = next > 0 && t.0 - runs[next - 1].end.0 <= join;
        let joins_next = next < n && runs[next].start.0 - t.0 <= join;
        match (joins_prev, joins_next) {
            (true, true) => self.join(next),
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
            (false, false) => self.insert(
                next,
                Run {
                    start: t,
                    end: t,
                    odo_start: odo,
                    odo_end: odo,
                },
            ),
        }
        self.forget_covered_breaks();
    }

    /// A login or logout at `t`.
    pub fn session_break(&mut self, t: Secs, login: bool) {
        push(&mut self.breaks, t);
        if login {
            push(&mut self.logins, t);
        }
        self.forget_covered_breaks();
    }

    /// Keeps the breaks that matter: the earliest break and the latest login in each hole
    /// and after the last run. (One per hole and one after: they always fit.)
    fn forget_covered_breaks(&mut self) {
        self.breaks = self.per_hole(self.breaks, |kept, b| kept.is_never() || b < kept);
        self.logins = self.per_hole(self.logins, |kept, b| kept.is_never() || b > kept);
    }

    /// One time per hole (and after the last run), chosen by `better`, ascending.
    fn per_hole(&self, times: [Secs; 4], better: impl Fn(Secs, Secs) -> bool) -> [Secs; 4] {
        let n = self.len();
        let mut kept = [Secs(0); 4];
        for b in times.into_iter().filter(|b| !b.is_never()) {
            // The hole a break lies in: before run `i` (`n` = after the last run).
            let Some(i) =
                (1..=n).find(|&i| self.runs[i - 1].end <= b && (i == n || b <= self.runs[i].start))
            else {
                continue;
            };
            if better(kept[i - 1], b) {
                kept[i - 1] = b;
            }
        }
        let mut out = [Secs(0); 4];
        for (slot, b) in out
            .iter_mut()
            .zip(kept.into_iter().filter(|b| !b.is_never()))
        {
            *slot = b;
        }
        out
    }

    /// The earliest login or logout inside the hole before run `i`.
    pub fn break_in(&self, i: usize) -> Option<Secs> {
        let (before, after) = self.hole(i)?;
        self.breaks
            .iter()
            .copied()
            .find(|&b| !b.is_never() && b >= before.end && b <= after.start)
    }

    /// The latest login inside the hole before run `i`.
    fn login_in(&self, i: usize) -> Option<Secs> {
        let (before, after) = self.hole(i)?;
        self.logins
            .iter()
            .copied()
            .rfind(|&b| !b.is_never() && b >= before.end && b <= after.start)
    }

    /// Joins run `i` into run `i - 1`, closing the hole between them.
    pub fn join(&mut self, i: usize) {
        let after = self.runs[i];
        let prev = &mut self.runs[i - 1];
        prev.end = after.end;
        prev.odo_end = after.odo_end;
        self.runs.copy_within(i + 1.., i);
        let last = self.runs.len() - 1;
        self.runs[last] = Run::default();
        self.forget_covered_breaks();
    }

    /// Inserts at `i`. When full, two runs are joined first — across a hole with a session
    /// break if there is one, else across the shortest hole: that hole is then taken as seen —
    /// samples still to come in it count as duplicates and it is never a data gap.
    fn insert(&mut self, i: usize, run: Run) {
        let n = self.len();
        if n == self.runs.len() {
            // A hole with a session break waits for nothing and is never a data gap: join
            // such a hole first, else the shortest.
            let (narrowest, _) = (1..n)
                .map(|j| {
                    let hole = self.runs[j].start.0 - self.runs[j - 1].end.0;
                    (j, (self.break_in(j).is_none(), hole))
                })
                .min_by_key(|&(_, key)| key)
                .expect("several runs");
            self.join(narrowest);
            if narrowest == i && self.runs[i - 1].end >= run.start {
                return;
            }
            let i = if i > narrowest { i - 1 } else { i };
            return self.insert(i, run);
        }
        self.runs.copy_within(i..n, i + 1);
        self.runs[i] = run;
    }

    /// Whether no hole can still change what is known of `[from, to]`: no part of a hole in it
    /// may still be reissued. Data from before the vehicle's first sample (`floor`) is not
    /// waited for.
    pub fn settled(&self, from: Secs, to: Secs) -> bool {
        let n = self.len();
        if n == 0 || to > self.runs[n - 1].end {
            return false;
        }
        let from = from.max(self.floor);
        (1..n).all(|i| {
            let (before, after) = (self.runs[i - 1], self.runs[i]);
            // Open: from the last sample to the first break (offline data may be stored
            // there), and from the last login to the next sample (online, yet silent).
            let head = match self.break_in(i) {
                Some(at) if at.0.saturating_sub(before.end.0) <= JOIN => None,
                Some(at) => Some((before.end, at)),
                None => Some((before.end, after.start)),
            };
            let tail = self
                .login_in(i)
                .filter(|at| after.start.0.saturating_sub(at.0) > JOIN)
                .map(|at| (at, after.start));
            [head, tail]
                .into_iter()
                .flatten()
                .all(|(open_from, open_to)| open_to <= from || open_from >= to)
        })
    }

    /// The hole before run `i` (from 1): the runs on either side of it.
    pub fn hole(&self, i: usize) -> Option<(Run, Run)> {
        (i >= 1 && i < self.len()).then(|| (self.runs[i - 1], self.runs[i]))
    }
}

/// Appends `t`, or when full keeps the earlier of it and the last entry (the caller then
/// keeps one per hole).
fn push(times: &mut [Secs; 4], t: Secs) {
    match times.iter().position(|b| b.is_never()) {
        Some(i) => times[i] = t,
        None => times[3] = times[3].min(t),
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
            forward.add(Secs(t), 0, true);
        }
        for &t in times.iter().rev() {
            backward.add(Secs(t), 0, true);
        }
        assert_eq!(runs(&forward), vec![(1000, 5099)]);
        assert_eq!(runs(&backward), vec![(1000, 5099)]);
    }

    #[test]
    fn a_session_break_explains_a_hole_from_the_break_on() {
        let mut c = Coverage::default();
        c.add(Secs(1000), 0, true);
        c.add(Secs(9000), 0, true);
        assert_eq!(runs(&c).len(), 2);
        assert!(!c.settled(Secs(1000), Secs(9000)));
        c.session_break(Secs(1030), false);
        assert_eq!(c.break_in(1), Some(Secs(1030)));
        assert!(c.settled(Secs(1000), Secs(9000)), "logged out right after");
        assert!(!c.contains(Secs(5000)), "reissue may still fill it");

        let mut late = Coverage::default();
        late.add(Secs(1000), 0, true);
        late.session_break(Secs(4000), false);
        late.add(Secs(9000), 0, true);
        assert_eq!(late.break_in(1), Some(Secs(4000)));
        assert!(
            !late.settled(Secs(1000), Secs(9000)),
            "an hour online before the logout"
        );
        assert!(late.settled(Secs(5000), Secs(9000)));
    }

    #[test]
    fn breaks_inside_runs_are_forgotten() {
        let mut c = Coverage::default();
        c.add(Secs(1000), 0, true);
        c.session_break(Secs(1500), false);
        c.add(Secs(9000), 0, true);
        for t in (1000..9000).step_by(30) {
            c.add(Secs(t), 0, true);
        }
        assert_eq!(runs(&c), vec![(1000, 9000)]);
        assert_eq!(c.breaks, [Secs(0); 4]);
        c.session_break(Secs(9000), false);
        c.session_break(Secs(9500), true);
        assert_eq!(
            c.breaks[..2],
            [Secs(9000), Secs(0)],
            "the earliest after the last run"
        );
    }

    #[test]
    fn overflow_joins_the_narrowest_hole() {
        let mut c = Coverage::default();
        for t in [1000, 3000, 4000, 7000, 9000] {
            c.add(Secs(t), 0, true);
        }
        assert_eq!(
            runs(&c),
            vec![(1000, 1000), (3000, 4000), (7000, 7000), (9000, 9000)]
        );
        assert!(c.contains(Secs(3500)), "taken as seen");
        c.add(Secs(8000), 0, true);
        assert_eq!(
            runs(&c),
            vec![(1000, 4000), (7000, 7000), (8000, 8000), (9000, 9000)]
        );
        assert_eq!(c.floor, Secs(1000));
    }
}
