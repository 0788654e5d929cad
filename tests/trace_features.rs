//! gc-core's optional features (`src/ext/`), each part behind its feature: run them all with
//! `cargo test --features all-ext --test trace_features`. Every container goes through heap
//! objects for real (`common::exercise`: exact root counts, garbage copies, cycles freed);
//! hashbrown's and indexmap's maps also with `Gc` keys taken out through a cell (their
//! counts come back); leaves are noscan; serde round-trips a small graph through JSON.

mod common;

#[allow(unused_imports)]
use common::exercise::{count, exercise, nodes, Inside, Node};
#[allow(unused_imports)]
use gc_core::{Gc, GcCell, Trace};

/// A map in a heap cell keyed by `Gc`s: a key gives its count up when the map joins the
/// heap and takes it back when the map is written, so a key taken out is an ordinary
/// counted handle (debug builds: they read counts).
#[cfg(all(debug_assertions, any(feature = "hashbrown", feature = "indexmap")))]
fn a_key_count_follows_its_map<M: Trace + Send + Sync + 'static>(
    what: &str,
    new: impl Fn(Gc<Node>) -> M,
    insert: impl Fn(&mut M, Gc<Node>),
    remove: impl Fn(&mut M, &Gc<Node>) -> Option<Gc<Node>>,
) {
    let s = nodes(1).pop().unwrap();
    let map = new(s.clone());
    assert_eq!(
        count(&s),
        Some(2),
        "{what}: a map outside the heap holds a counted key"
    );
    let holder = Gc::new(GcCell::new(map));
    assert_eq!(
        count(&s),
        Some(1),
        "{what}: the map joined the heap: its key gave its count up"
    );
    insert(&mut holder.borrow_mut(), nodes(1).pop().unwrap());
    gc_core::collect();
    assert_eq!(
        count(&s),
        Some(1),
        "{what}: the unroot pass made the key an edge again"
    );
    let k = remove(&mut holder.borrow_mut(), &s).expect("the key is there");
    assert_eq!(
        count(&s),
        Some(2),
        "{what}: a removed key is an ordinary rooted handle"
    );
    drop(k);
    assert_eq!(count(&s), Some(1));
    insert(&mut holder.borrow_mut(), s.clone());
    gc_core::collect();
    let w = Gc::downgrade(&holder);
    drop(holder);
    common::collect_until(|| w.upgrade().is_none());
    gc_core::collect();
    assert_eq!(
        count(&s),
        Some(1),
        "{what}: a garbage map's key released a count"
    );
}

#[cfg(feature = "hashbrown")]
mod hashbrown_tables {
    use super::*;
    use hashbrown::{HashMap, HashSet, HashTable};

    #[test]
    fn maps_sets_and_tables_hold_their_gcs() {
        exercise(
            "HashMap<Gc, Gc>",
            4,
            Inside::Edges,
            |v| {
                v.chunks(2)
                    .map(|c| (c[0].clone(), c[1].clone()))
                    .collect::<HashMap<_, _>>()
            },
            |m| m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
        );
        exercise(
            "HashMap<u64, Gc>",
            3,
            Inside::Edges,
            |v| v.into_iter().map(|g| (g.id, g)).collect::<HashMap<_, _>>(),
            |m| m.values().cloned().collect(),
        );
        exercise(
            "HashSet<Gc>",
            3,
            Inside::Edges,
            |v| v.into_iter().collect::<HashSet<_>>(),
            |s| s.iter().cloned().collect(),
        );
        exercise(
            "HashSet<Vec<Gc>>",
            4,
            Inside::Edges,
            |v| v.chunks(2).map(<[_]>::to_vec).collect::<HashSet<_>>(),
            |s| s.iter().flatten().cloned().collect(),
        );
        let hash = |g: &Gc<Node>| common::mix(g.id);
        exercise(
            "HashTable<Gc>",
            3,
            Inside::Edges,
            |v| {
                let mut t = HashTable::new();
                for g in v {
                    t.insert_unique(hash(&g), g, hash);
                }
                t
            },
            |t| t.iter().cloned().collect(),
        );
        assert!(!<HashMap<u64, String>>::needs_trace());
        assert!(!<HashTable<(u32, Vec<u8>)>>::needs_trace());
    }

    #[cfg(debug_assertions)]
    #[test]
    fn a_key_count_follows_its_map() {
        super::a_key_count_follows_its_map(
            "hashbrown::HashMap",
            |k| [(k, 0u32)].into_iter().collect::<HashMap<_, _>>(),
            |m, k| {
                m.insert(k, 1);
            },
            |m, k| m.remove_entry(k).map(|(k, _)| k),
        );
        super::a_key_count_follows_its_map(
            "hashbrown::HashSet",
            |k| [k].into_iter().collect::<HashSet<_>>(),
            |m, k| {
                m.insert(k);
            },
            |m, k| m.take(k),
        );
    }
}

#[cfg(feature = "indexmap")]
mod indexmap_maps {
    use super::*;
    use indexmap::{IndexMap, IndexSet};

    #[test]
    fn maps_and_sets_hold_their_gcs() {
        exercise(
            "IndexMap<Gc, Gc>",
            4,
            Inside::Edges,
            |v| {
                v.chunks(2)
                    .map(|c| (c[0].clone(), c[1].clone()))
                    .collect::<IndexMap<_, _>>()
            },
            |m| m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
        );
        exercise(
            "IndexMap<u64, Vec<Gc>>",
            4,
            Inside::Edges,
            |v| {
                v.chunks(2)
                    .map(|c| (c[0].id, c.to_vec()))
                    .collect::<IndexMap<_, _>>()
            },
            |m| m.values().flatten().cloned().collect(),
        );
        exercise(
            "IndexSet<Gc>",
            3,
            Inside::Edges,
            |v| v.into_iter().collect::<IndexSet<_>>(),
            |s| s.iter().cloned().collect(),
        );
        exercise(
            "IndexSet<Option<Gc>>",
            2,
            Inside::Edges,
            |v| {
                v.into_iter()
                    .map(Some)
                    .chain([None])
                    .collect::<IndexSet<_>>()
            },
            |s| s.iter().flatten().cloned().collect(),
        );
        assert!(!<IndexMap<String, u64>>::needs_trace());
        assert!(<IndexSet<Gc<str>>>::needs_trace());
    }

    #[cfg(debug_assertions)]
    #[test]
    fn a_key_count_follows_its_map() {
        super::a_key_count_follows_its_map(
            "IndexMap",
            |k| [(k, 0u32)].into_iter().collect::<IndexMap<_, _>>(),
            |m, k| {
                m.insert(k, 1);
            },
            |m, k| m.shift_remove_entry(k).map(|(k, _)| k),
        );
        super::a_key_count_follows_its_map(
            "IndexSet",
            |k| [k].into_iter().collect::<IndexSet<_>>(),
            |m, k| {
                m.insert(k);
            },
            |m, k| m.swap_take(k),
        );
    }
}

#[cfg(feature = "smallvec")]
#[test]
fn smallvec_inline_and_spilled() {
    use smallvec::SmallVec;
    exercise(
        "SmallVec inline",
        2,
        Inside::Edges,
        SmallVec::<[Gc<Node>; 2]>::from_vec,
        |s| {
            assert!(!s.spilled());
            s.to_vec()
        },
    );
    exercise(
        "SmallVec spilled",
        5,
        Inside::Edges,
        SmallVec::<[Gc<Node>; 2]>::from_vec,
        |s| {
            assert!(s.spilled());
            s.to_vec()
        },
    );
    assert!(!<SmallVec<[u8; 16]>>::needs_trace());
}

#[cfg(feature = "arrayvec")]
#[test]
fn arrayvec_and_arraystring() {
    use arrayvec::{ArrayString, ArrayVec};
    exercise(
        "ArrayVec",
        3,
        Inside::Edges,
        |v| v.into_iter().collect::<ArrayVec<_, 4>>(),
        |a| a.to_vec(),
    );
    assert!(!<ArrayString<16>>::needs_trace() && !<ArrayVec<u32, 8>>::needs_trace());
    let s = Gc::new(ArrayString::<16>::from("inline text").unwrap());
    drop(nodes(100));
    gc_core::collect();
    assert_eq!(s.as_str(), "inline text");
}

#[cfg(feature = "slotmap")]
#[test]
fn slotmap_values_are_traced() {
    use slotmap::{DefaultKey, DenseSlotMap, SecondaryMap, SlotMap, SparseSecondaryMap};
    #[allow(deprecated)]
    type Hop = slotmap::HopSlotMap<DefaultKey, Gc<Node>>;
    exercise(
        "SlotMap",
        3,
        Inside::Edges,
        |v| {
            let mut m = SlotMap::new();
            v.into_iter().for_each(|g| {
                m.insert(g);
            });
            m
        },
        |m: &SlotMap<DefaultKey, _>| m.values().cloned().collect(),
    );
    exercise(
        "HopSlotMap",
        3,
        Inside::Edges,
        |v| {
            let mut m = Hop::new();
            v.into_iter().for_each(|g| {
                m.insert(g);
            });
            m
        },
        |m| m.values().cloned().collect(),
    );
    exercise(
        "DenseSlotMap",
        3,
        Inside::Edges,
        |v| {
            let mut m = DenseSlotMap::new();
            v.into_iter().for_each(|g| {
                m.insert(g);
            });
            m
        },
        |m: &DenseSlotMap<DefaultKey, _>| m.values().cloned().collect(),
    );
    // Secondary maps take their keys from a primary one.
    let mut primary = SlotMap::<DefaultKey, ()>::new();
    let keys: Vec<DefaultKey> = (0..3).map(|_| primary.insert(())).collect();
    exercise(
        "SecondaryMap",
        3,
        Inside::Edges,
        |v| keys.iter().copied().zip(v).collect::<SecondaryMap<_, _>>(),
        |m| m.values().cloned().collect(),
    );
    exercise(
        "SparseSecondaryMap",
        3,
        Inside::Edges,
        |v| {
            keys.iter()
                .copied()
                .zip(v)
                .collect::<SparseSecondaryMap<_, _>>()
        },
        |m| m.values().cloned().collect(),
    );
    assert!(!DefaultKey::needs_trace() && !slotmap::KeyData::needs_trace());
    assert!(!<SlotMap<DefaultKey, String>>::needs_trace());
}

#[cfg(feature = "bytes")]
#[test]
fn bytes_are_leaves_and_an_owner_is_dropped() {
    use bytes::{Bytes, BytesMut};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[derive(Trace)]
    struct Packet {
        head: BytesMut,
        body: Bytes,
    }
    /// A buffer owner with a `Drop` of its own: user code.
    struct Owner(Vec<u8>, Arc<AtomicBool>);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    impl Drop for Owner {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }

    assert!(!Packet::needs_trace(), "noscan");
    assert!(!BytesMut::drop_runs_user_code());
    assert!(Packet::drop_runs_user_code(), "a Bytes may own anything");
    let dropped = Arc::new(AtomicBool::new(false));
    let p = Gc::new(Packet {
        head: BytesMut::from(&b"head"[..]),
        body: Bytes::from_owner(Owner(b"body".to_vec(), dropped.clone())),
    });
    let w = Gc::downgrade(&p);
    drop(nodes(100));
    gc_core::collect();
    assert_eq!((&p.head[..], &p.body[..]), (&b"head"[..], &b"body"[..]));
    drop(p);
    common::collect_until(|| w.upgrade().is_none() && dropped.load(Ordering::SeqCst));
}

#[cfg(feature = "serde")]
mod serde_round_trip {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Trace, Serialize, Deserialize)]
    struct Doc {
        title: Gc<str>,
        tags: Gc<[Gc<str>]>,
        sections: Vec<Gc<Section>>,
        notes: GcCell<Vec<String>>,
    }

    #[derive(Trace, Serialize, Deserialize)]
    struct Section {
        heading: String,
        words: u64,
        next: GcCell<Option<Gc<Section>>>,
    }

    const JSON: &str = concat!(
        r#"{"title":"gc-core","tags":["go","rust"],"sections":["#,
        r#"{"heading":"alloc","words":120,"next":{"heading":"sweep","words":80,"next":null}},"#,
        r#"{"heading":"mark","words":300,"next":null}],"notes":["draft"]}"#
    );

    fn section(heading: &str, words: u64, next: Option<Gc<Section>>) -> Gc<Section> {
        Gc::new(Section {
            heading: heading.into(),
            words,
            next: GcCell::new(next),
        })
    }

    #[test]
    fn a_graph_round_trips_through_json() {
        let doc = Gc::new(Doc {
            title: Gc::from("gc-core"),
            tags: vec![Gc::from("go"), Gc::from("rust")].into(),
            sections: vec![
                section("alloc", 120, Some(section("sweep", 80, None))),
                section("mark", 300, None),
            ],
            notes: GcCell::new(vec!["draft".into()]),
        });
        assert_eq!(serde_json::to_string(&doc).unwrap(), JSON);

        let back: Gc<Doc> = serde_json::from_str(JSON).unwrap();
        let weak = Gc::downgrade(&back);
        assert!(!Gc::ptr_eq(&back, &doc), "deserializing allocates");
        for _ in 0..3 {
            drop(nodes(200));
            gc_core::collect();
        }
        assert_eq!(serde_json::to_string(&back).unwrap(), JSON);
        let next = back.sections[0].next.borrow().clone().unwrap();
        assert_eq!((&*back.title, next.heading.as_str()), ("gc-core", "sweep"));
        back.notes.borrow_mut().push("final".into());
        assert!(serde_json::to_string(&back)
            .unwrap()
            .ends_with(r#""notes":["draft","final"]}"#));

        // Bare handles, strings and slices.
        let slice: Gc<[u32]> = serde_json::from_str("[1,2,3]").unwrap();
        let text: Gc<str> = serde_json::from_str(r#""text""#).unwrap();
        let cell: GcCell<Gc<u64>> = serde_json::from_str("7").unwrap();
        assert_eq!(
            (&*slice, &*text, **cell.borrow()),
            (&[1, 2, 3][..], "text", 7)
        );
        drop((back, next));
        common::collect_until(|| weak.upgrade().is_none());
    }
}
