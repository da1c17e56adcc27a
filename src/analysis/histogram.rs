//! A mergeable histogram of durations with about 1% relative error: what lets per-day
//! rollups answer percentiles over any run of days without keeping every value.
//!
//! Values (milliseconds) fall into log-spaced buckets: bucket `i > 0` holds
//! `[GROWTH^(i-1), GROWTH^i)`, bucket 0 holds zero. Each bucket keeps its count and the sum
//! of its values; a percentile is the mean of the bucket holding its rank, so it is within
//! 1% of the exact nearest-rank value, and exact when that bucket's values are all equal
//! (a pipeline of exactly 7 minutes shows 7.0, not 6.9).

use std::collections::BTreeMap;

/// Each bucket is 1% wider than the one before.
const GROWTH: f64 = 1.01;
/// Bytes per bucket when stored: index (u16), count (u32), sum (i64).
const ENCODED_BUCKET: usize = 14;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    count: u32,
    sum: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u16, Bucket>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a stored histogram is {0} bytes long, not a whole number of {ENCODED_BUCKET}-byte buckets"
)]
pub struct BadEncoding(usize);

fn bucket(ms: i64) -> u16 {
    if ms <= 0 {
        return 0;
    }
    let index = 1.0 + (ms as f64).ln() / GROWTH.ln();
    index.floor().min(f64::from(u16::MAX)) as u16
}

impl Histogram {
    pub fn add(&mut self, ms: i64) {
        let bucket = self.buckets.entry(bucket(ms)).or_default();
        bucket.count += 1;
        bucket.sum = bucket.sum.saturating_add(ms.max(0));
    }

    /// Takes back one `add(ms)`: a pipeline's span grows as its jobs arrive, so its old
    /// value leaves the histogram when the new one enters.
    pub fn remove(&mut self, ms: i64) {
        let key = bucket(ms);
        if let Some(bucket) = self.buckets.get_mut(&key) {
            bucket.count -= 1;
            bucket.sum = bucket.sum.saturating_sub(ms.max(0));
            if bucket.count == 0 {
                self.buckets.remove(&key);
            }
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (key, theirs) in &other.buckets {
            let ours = self.buckets.entry(*key).or_default();
            ours.count += theirs.count;
            ours.sum = ours.sum.saturating_add(theirs.sum);
        }
    }

    pub fn count(&self) -> usize {
        self.buckets.values().map(|b| b.count as usize).sum()
    }

    /// Nearest-rank percentile in milliseconds, within the bucket error; None when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize).clamp(1, n);
        let mut seen = 0;
        for bucket in self.buckets.values() {
            seen += bucket.count as usize;
            if seen >= rank {
                return Some(bucket.sum as f64 / f64::from(bucket.count));
            }
        }
        None
    }

    /// Index, count and sum of each non-empty bucket, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.buckets.len() * ENCODED_BUCKET);
        for (key, bucket) in &self.buckets {
            bytes.extend_from_slice(&key.to_le_bytes());
            bytes.extend_from_slice(&bucket.count.to_le_bytes());
            bytes.extend_from_slice(&bucket.sum.to_le_bytes());
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Histogram, BadEncoding> {
        if bytes.len() % ENCODED_BUCKET != 0 {
            return Err(BadEncoding(bytes.len()));
        }
        let mut histogram = Histogram::default();
        for field in bytes.chunks_exact(ENCODED_BUCKET) {
            let (key, rest) = field.split_at(2);
            let (count, sum) = rest.split_at(4);
            let key = u16::from_le_bytes(key.try_into().expect("2 bytes"));
            let count = u32::from_le_bytes(count.try_into().expect("4 bytes"));
            let sum = i64::from_le_bytes(sum.try_into().expect("8 bytes"));
            if count > 0 {
                histogram.buckets.insert(key, Bucket { count, sum });
            }
        }
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::metrics::percentile;

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_ones() {
        let values: Vec<i64> = (0..5_000).map(|i| (i * i) % 7_919_993 + 1).collect();
        let mut histogram = Histogram::default();
        values.iter().for_each(|v| histogram.add(*v));
        let exact: Vec<f64> = values.iter().map(|v| *v as f64).collect();
        for p in [1.0, 50.0, 90.0, 95.0, 99.0, 100.0] {
            let want = percentile(&exact, p).unwrap();
            let got = histogram.percentile(p).unwrap();
            assert!(
                (got - want).abs() <= want * 0.01,
                "p{p}: {got} against {want}"
            );
        }
        assert_eq!(histogram.count(), 5_000);
    }

    #[test]
    fn remove_takes_back_an_add_and_merge_adds_counts() {
        let mut a = Histogram::default();
        a.add(0);
        a.add(60_000);
        a.add(61_000);
        a.remove(61_000);
        let mut b = Histogram::default();
        b.add(0);
        b.add(60_000);
        assert_eq!(a, b);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert_eq!(a.percentile(50.0), Some(0.0));
        // Equal values come back exactly, whatever their bucket.
        assert_eq!(a.percentile(100.0), Some(60_000.0));
        // Removing what was never added leaves the histogram as it was.
        a.remove(5);
        assert_eq!(a.count(), 4);
    }

    #[test]
    fn encoding_round_trips_and_refuses_torn_bytes() {
        let mut h = Histogram::default();
        for ms in [0, 1, 999, 45_000, 3_600_000, i64::MAX] {
            h.add(ms);
        }
        assert_eq!(Histogram::decode(&h.encode()), Ok(h.clone()));
        assert_eq!(Histogram::decode(&[]), Ok(Histogram::default()));
        let torn = &h.encode()[..20];
        assert_eq!(Histogram::decode(torn), Err(BadEncoding(20)));
    }
}
