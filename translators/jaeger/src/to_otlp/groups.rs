//! Grouping by key in first-appearance order, with O(1) lookups once there are many groups (a
//! hostile batch can carry a distinct scope or process on every span).

use std::collections::HashMap;
use std::hash::Hash;

use opentelemetry_proto::tonic::trace::v1::Span;

const LINEAR_LIMIT: usize = 8;

/// Values grouped by key, in the order each key first appeared.
pub(crate) struct Groups<K, V> {
    groups: Vec<(K, Vec<V>)>,
    index: Option<HashMap<K, usize>>,
}

impl<K: Eq + Hash + Clone, V> Groups<K, V> {
    pub(crate) fn new() -> Self {
        Groups {
            groups: Vec::new(),
            index: None,
        }
    }

    /// The position of `key`'s group, created (empty) if new.
    pub(crate) fn group(&mut self, key: K) -> usize {
        if let Some(index) = &self.index {
            if let Some(&i) = index.get(&key) {
                return i;
            }
        } else if let Some(i) = self.groups.iter().position(|(k, _)| *k == key) {
            return i;
        }
        let i = self.groups.len();
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), i);
        }
        self.groups.push((key, Vec::new()));
        if self.index.is_none() && self.groups.len() > LINEAR_LIMIT {
            let index = self
                .groups
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(index);
        }
        i
    }

    pub(crate) fn push(&mut self, key: K, value: V) {
        let i = self.group(key);
        self.groups[i].1.push(value);
    }

    pub(crate) fn groups_mut(&mut self) -> &mut [(K, Vec<V>)] {
        &mut self.groups
    }

    pub(crate) fn into_groups(self) -> Vec<(K, Vec<V>)> {
        self.groups
    }
}

/// Spans by (scope name, scope version).
pub(crate) type ScopeGroups = Groups<(String, String), Span>;
