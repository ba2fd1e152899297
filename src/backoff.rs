//! One exponential backoff for every wait between tries: from `first`,
//! doubling up to `max`.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max: max.max(first),
            attempt: 0,
        }
    }

    /// The wait before the next try: `first`, then twice as long each time,
    /// never more than `max`.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self
            .first
            .saturating_mul(2u32.saturating_pow(self.attempt.min(31)))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// The next delay, spread at random by up to `spread` of it either way
    /// (0.25: from 75 % to 125 %), so that many waiters do not wake at once.
    pub fn next_jittered(&mut self, spread: f64) -> Duration {
        let spread = spread.clamp(0.0, 1.0);
        self.next_delay()
            .mul_f64(1.0 - spread + rand::random::<f64>() * 2.0 * spread)
    }

    /// How many delays were handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over from `first`, after a try that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_doubles_from_its_first_wait_up_to_its_cap_and_starts_over_on_reset() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(500));
        let waits: Vec<_> = (0..5).map(|_| backoff.next_delay()).collect();
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        assert_eq!(backoff.attempt(), 5);
        for _ in 0..100 {
            assert_eq!(backoff.next_delay(), ms(500), "no overflow past the cap");
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(100));
        for _ in 0..50 {
            backoff.reset();
            let jittered = backoff.next_jittered(0.25);
            assert!((ms(75)..=ms(125)).contains(&jittered), "{jittered:?}");
        }
    }
}
