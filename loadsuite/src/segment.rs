//! Execution segments: `--segment I/N` runs exactly the I-th of N shares of a plan, so N processes
//! (Kubernetes pods, compose containers, machines) together run the whole plan and
//! `loadsuite merge` turns their results into one run. Integer quantities (users, in-flight limits)
//! are split so the shares add up exactly (100 over 3: 34/33/33); rates are split in proportion
//! (a segment's spawn rate follows its share of users, so every segment reaches its share at the
//! same moment). Segments seed their users differently and, in open plans, offset their arrival
//! schedules so the N schedules interleave into the whole one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// The I-th (0-based) of N shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Segment {
    /// 0-based index.
    pub index: u32,
    /// Number of segments.
    pub count: u32,
}

/// Why `--segment` or `--start-at` was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SegmentError {
    /// Not `I/N` with `0 <= I < N`.
    #[error("--segment {0}: write I/N with 0 <= I < N (e.g. 0/3, 1/3, 2/3)")]
    Segment(String),
    /// Not a time.
    #[error(
        "--start-at {0}: give Unix seconds (e.g. 1767225600), an RFC 3339 time (e.g. 2026-12-06T02:00:00Z) or `now`"
    )]
    StartAt(String),
}

impl Default for Segment {
    fn default() -> Self {
        Segment::WHOLE
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Segment {
    type Err = SegmentError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SegmentError::Segment(text.to_owned());
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Segment { index, count })
    }
}

impl Segment {
    /// The whole plan: one segment of one.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Whether this is the whole plan.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// This segment's share of `total` things: the first `total % N` segments take one more.
    pub fn share(&self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        total / n + u64::from(i < total % n)
    }

    /// The user id the `k`-th user of this segment gets: ids interleave across segments, so the
    /// segments' users are exactly the users a single process would have numbered.
    pub fn user_id(&self, k: u64) -> u64 {
        k * u64::from(self.count) + u64::from(self.index)
    }

    /// This segment's share of `plan`.
    pub fn plan(&self, plan: &Plan) -> Plan {
        let mut plan = plan.clone();
        let fraction = 1.0 / f64::from(self.count);
        match &mut plan {
            Plan::Closed { stages } => {
                for stage in stages {
                    let users = self.share(u64::from(stage.users)) as u32;
                    stage.spawn_rate = if stage.users == 0 {
                        stage.spawn_rate * fraction
                    } else {
                        stage.spawn_rate * f64::from(users) / f64::from(stage.users)
                    };
                    stage.users = users;
                }
            }
            Plan::Open { stages, max_in_flight } => {
                for stage in stages {
                    stage.rate *= fraction;
                }
                *max_in_flight = (self.share(*max_in_flight as u64) as usize).max(1);
            }
        }
        plan
    }

    /// Where this segment's arrivals sit between the whole plan's: a fraction of its own interval.
    pub fn phase(&self) -> f64 {
        f64::from(self.index) / f64::from(self.count)
    }
}

/// Parses `--start-at`: Unix seconds (fractions allowed), an RFC 3339 time, or `now`.
pub fn parse_start_at(text: &str) -> Result<SystemTime, SegmentError> {
    if text == "now" {
        return Ok(SystemTime::now());
    }
    if let Ok(at) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        let nanos = u64::try_from(at.unix_timestamp_nanos()).map_err(|_| SegmentError::StartAt(text.to_owned()))?;
        return Ok(UNIX_EPOCH + Duration::from_nanos(nanos));
    }
    let seconds: f64 = text.parse().map_err(|_| SegmentError::StartAt(text.to_owned()))?;
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(SegmentError::StartAt(text.to_owned()));
    }
    Ok(UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ClosedStage, OpenStage};

    fn segments(n: u32) -> Vec<Segment> {
        (0..n).map(|index| Segment { index, count: n }).collect()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("1/3".parse(), Ok(Segment { index: 1, count: 3 }));
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2"] {
            assert!(bad.parse::<Segment>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shares_add_up_to_the_whole_with_nothing_lost() {
        let shares: Vec<u64> = segments(3).iter().map(|s| s.share(100)).collect();
        assert_eq!(shares, [34, 33, 33]);
        for total in [0u64, 1, 2, 7, 99, 1000] {
            for n in 1..=7 {
                assert_eq!(segments(n).iter().map(|s| s.share(total)).sum::<u64>(), total, "{total} over {n}");
            }
        }
    }

    #[test]
    fn user_ids_partition_the_single_process_ids() {
        let mut ids: Vec<u64> = segments(3).iter().flat_map(|s| (0..4).map(|k| s.user_id(k))).collect();
        ids.sort();
        assert_eq!(ids, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn closed_and_open_plans_split_exactly() {
        let closed = Plan::Closed {
            stages: vec![
                ClosedStage { users: 10, spawn_rate: 1.0, duration: Duration::from_secs(60) },
                ClosedStage { users: 100, spawn_rate: 10.0, duration: Duration::from_secs(60) },
            ],
        };
        let parts: Vec<Plan> = segments(3).iter().map(|s| s.plan(&closed)).collect();
        for stage in 0..2 {
            let (mut users, mut rate) = (0, 0.0);
            for p in &parts {
                let Plan::Closed { stages } = p else { panic!() };
                users += stages[stage].users;
                rate += stages[stage].spawn_rate;
                assert_eq!(stages[stage].duration, Duration::from_secs(60));
            }
            let Plan::Closed { stages } = &closed else { panic!() };
            assert_eq!(users, stages[stage].users);
            assert!((rate - stages[stage].spawn_rate).abs() < 1e-9);
        }
        let open = Plan::Open {
            stages: vec![OpenStage { rate: 200.0, duration: Duration::from_secs(5) }],
            max_in_flight: 1000,
        };
        let parts: Vec<Plan> = segments(3).iter().map(|s| s.plan(&open)).collect();
        let (mut rate, mut flight) = (0.0, 0);
        for p in &parts {
            let Plan::Open { stages, max_in_flight } = p else { panic!() };
            rate += stages[0].rate;
            flight += max_in_flight;
        }
        assert!((rate - 200.0).abs() < 1e-9);
        assert_eq!(flight, 1000);
    }

    #[test]
    fn start_at_takes_unix_seconds() {
        assert_eq!(parse_start_at("1767225600"), Ok(UNIX_EPOCH + Duration::from_secs(1_767_225_600)));
        assert_eq!(parse_start_at("2026-01-01T00:00:00Z"), Ok(UNIX_EPOCH + Duration::from_secs(1_767_225_600)));
        assert_eq!(
            parse_start_at("2026-01-01T01:30:00.5+01:30"),
            Ok(UNIX_EPOCH + Duration::from_millis(1_767_225_600_500))
        );
        assert!(parse_start_at("1969-12-31T23:59:59Z").is_err(), "before the epoch");
        assert!(parse_start_at("tomorrow").is_err());
    }
}
