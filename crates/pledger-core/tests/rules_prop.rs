//! Property tests of the rules over random event sequences.

use pledger_core::state::{DeliveryStatus, MemState};
use pledger_core::testkit::{cast, fake_key, ledger, recorded};
use proptest::prelude::*;

fn invariants(s: &MemState) -> Result<(), TestCaseError> {
    for p in s.pledges.values() {
        prop_assert!(p.confirmed + p.disputed <= p.claimed, "{}: confirmed+disputed > claimed", p.id);
        prop_assert!(p.claimed + p.withdrawn <= p.words(), "{}: claimed+withdrawn > words", p.id);
        let fs: Vec<_> = p.fulfillments.iter().map(|f| &s.fulfillments[f]).collect();
        prop_assert_eq!(fs.iter().map(|f| f.value).sum::<u64>(), p.claimed);
        let confirmed: u64 = fs.iter().filter(|f| f.status() == DeliveryStatus::Confirmed).map(|f| f.value).sum();
        let disputed: u64 = fs.iter().filter(|f| f.status() == DeliveryStatus::Disputed).map(|f| f.value).sum();
        prop_assert_eq!(confirmed, p.confirmed);
        prop_assert_eq!(disputed, p.disputed);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn one_by_one_equals_replay_and_refusals_change_nothing(seed in any::<u64>(), n in 1usize..300, members in 3usize..8) {
        let actors = cast(members, fake_key);
        let events = ledger(&actors, seed, n);
        let mut state = MemState::new();
        let mut accepted = Vec::new();
        let mut refused = 0;
        for (i, event) in events.into_iter().enumerate() {
            let rec = recorded(state.head.size, i as u64, event);
            let before = state.clone();
            match state.apply(&rec) {
                Ok(_) => accepted.push(rec),
                Err(e) => {
                    refused += 1;
                    prop_assert_eq!(&state, &before, "refused event ({}) changed the state", e);
                    prop_assert!(!e.to_string().contains('\n'));
                }
            }
            invariants(&state)?;
        }
        let mut replay = MemState::new();
        for rec in &accepted {
            replay.apply(rec).map_err(|e| TestCaseError::fail(format!("replay refused entry {}: {e}", rec.seq)))?;
        }
        prop_assert_eq!(&replay, &state);
        prop_assert_eq!(state.head.size as usize, accepted.len());
        // The generator must exercise both sides of the rules.
        if n > 100 {
            prop_assert!(refused > 0 && accepted.len() > 20, "accepted {} refused {}", accepted.len(), refused);
        }
    }
}
