//! How `--total-spans` is cut from a rotating pool of uneven entries.

use super::*;

fn pool_of(sizes: &[u64]) -> Vec<EncodedBatch> {
    sizes
        .iter()
        .map(|&n| EncodedBatch::locate(vec![0], n, []).expect("no ids"))
        .collect()
}

#[test]
fn totals_are_cut_exactly_from_uneven_pools() {
    // Equal batches: 40 321 spans of 1000 from a pool of 16 is 40 full and a 321 tail of
    // the pool's ninth batch.
    assert_eq!(
        split_total(40_321, &pool_of(&[1000; 16])),
        (40, Some((8, 321)))
    );
    // Datagrams of 5, 3 and 4 spans: 12 per round; 29 = 2 rounds + 5 spans.
    assert_eq!(split_total(29, &pool_of(&[5, 3, 4])), (7, None));
    assert_eq!(split_total(30, &pool_of(&[5, 3, 4])), (7, Some((1, 1))));
    assert_eq!(split_total(12, &pool_of(&[5, 3, 4])), (3, None));
    assert_eq!(split_total(4, &pool_of(&[5, 3, 4])), (0, Some((0, 4))));
}
