//! The services of `--shape realistic` and what each one does: fixed for a run and drawn from
//! `--seed`, so two runs with the same seed show the same services, operations and calls.
//!
//! Services `0..entries` are entry points (frontends, gateways) that nobody calls. Every other
//! service has one caller chosen among the services before it (a random recursive tree, so
//! the call graph is a few levels deep, like a real one), and about a third of the services
//! call one more service further down (so some services have several callers). Calls only go
//! to higher-numbered services, so there are no cycles.
//!
//! Each service has 5-30 operations, in three groups: endpoints (its SERVER spans), one call
//! per callee (a CLIENT span named after the callee endpoint it hits), and local work (database
//! queries if the service has a database, and INTERNAL spans). Every service has at
//! least two endpoints and one piece of local work.

use std::collections::HashSet;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::vocabulary::{method, pick, DATABASES, INTERNAL, LANGUAGES, NAMES, ROUTES, SUBS};

/// The first names are entry points and front ends: no database of their own.
const FRONT_ENDS: usize = 5;
/// Most callees a service may have, so even thousands of services keep 5-30 operations.
const MAX_CALLEES: usize = 12;

pub enum OpKind {
    Endpoint {
        method: &'static str,
        route: String,
    },
    /// A call to `endpoint` (an index into the callee's `ops`) of service `service`.
    Call {
        service: usize,
        endpoint: usize,
    },
    Query {
        operation: &'static str,
        statement: String,
    },
    Internal,
}

pub struct Operation {
    pub name: String,
    pub kind: OpKind,
}

pub struct Database {
    pub system: &'static str,
    pub name: String,
    pub peer: String,
    pub port: i64,
}

pub struct Service {
    pub name: String,
    pub resource: Resource,
    pub scope: InstrumentationScope,
    /// Index into [`LANGUAGES`].
    pub language: usize,
    /// Endpoints, then calls, then local work.
    pub ops: Vec<Operation>,
    pub endpoints: usize,
    /// Where local work starts in `ops`.
    pub local_from: usize,
    pub database: Option<Database>,
}

pub struct Topology {
    pub services: Vec<Service>,
    /// Services `0..entries` are where traces start.
    pub entries: usize,
}

fn service_name(i: usize) -> String {
    match i / NAMES.len() {
        0 => NAMES[i].to_owned(),
        n => format!("{}-{}", NAMES[i % NAMES.len()], n + 1),
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub fn str_kv(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

pub fn int_kv(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

impl Topology {
    pub fn new(services: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = services.max(2);
        let entries = (n / 10).clamp(1, 5);
        let mut callees: Vec<Vec<usize>> = vec![Vec::new(); n];
        for j in entries..n {
            let caller = (0..8)
                .map(|_| rng.random_range(0..j))
                .find(|&c| callees[c].len() < MAX_CALLEES)
                .or_else(|| (0..j).find(|&c| callees[c].len() < MAX_CALLEES))
                .unwrap_or(0);
            callees[caller].push(j);
        }
        for (i, list) in callees.iter_mut().enumerate() {
            let lo = (i + 1).max(entries);
            if lo < n && list.len() < MAX_CALLEES && rng.random_ratio(1, 3) {
                let extra = rng.random_range(lo..n);
                if !list.contains(&extra) {
                    list.push(extra);
                }
            }
        }
        let (mut services, totals): (Vec<Service>, Vec<usize>) = (0..n)
            .map(|i| Self::endpoints(i, callees[i].len(), &mut rng))
            .unzip();
        for (i, list) in callees.iter().enumerate() {
            let mut seen: HashSet<String> =
                services[i].ops.iter().map(|o| o.name.clone()).collect();
            for &callee in list {
                let endpoint = rng.random_range(0..services[callee].endpoints);
                let target = &services[callee];
                let mut name = target.ops[endpoint].name.clone();
                if !seen.insert(name.clone()) {
                    name = format!("{} {}", target.name, name);
                    seen.insert(name.clone());
                }
                services[i].ops.push(Operation {
                    name,
                    kind: OpKind::Call {
                        service: callee,
                        endpoint,
                    },
                });
            }
            services[i].local_from = services[i].ops.len();
        }
        for (s, total) in services.iter_mut().zip(totals) {
            s.add_local_work(total, &mut rng);
        }
        Topology { services, entries }
    }

    /// A service with its endpoints, and how many operations it will have in all (`callees`
    /// of them calls).
    fn endpoints(i: usize, callees: usize, rng: &mut StdRng) -> (Service, usize) {
        let name = service_name(i);
        let total = rng.random_range(5..=30usize).max(callees + 3).min(30);
        let endpoints = ((total - callees) / 2).max(2);
        let mut seen = HashSet::new();
        let mut ops = Vec::new();
        for attempt in 0.. {
            if ops.len() == endpoints {
                break;
            }
            let route = if attempt < 200 {
                pick(ROUTES, rng)
                    .replace("{n}", NAMES[i % NAMES.len()])
                    .replace("{s}", pick(SUBS, rng))
            } else {
                format!("/api/{}/op{attempt}", NAMES[i % NAMES.len()])
            };
            let method = method(rng);
            let op_name = format!("{method} {route}");
            if seen.insert(op_name.clone()) {
                ops.push(Operation {
                    name: op_name,
                    kind: OpKind::Endpoint { method, route },
                });
            }
        }
        let language = rng.random_range(0..LANGUAGES.len());
        let (lang, sdk, scope) = LANGUAGES[language];
        let pod = format!(
            "{name}-{:08x}-{:05x}",
            rng.random::<u32>(),
            rng.random_range(0..1u32 << 20)
        );
        let resource = Resource {
            attributes: vec![
                str_kv("service.name", &name),
                str_kv("service.namespace", "shop"),
                str_kv(
                    "service.version",
                    &format!("1.{}.{}", rng.random_range(0..30), rng.random_range(0..10)),
                ),
                str_kv(
                    "service.instance.id",
                    &format!("{:016x}", rng.random::<u64>()),
                ),
                str_kv("host.name", &pod),
                str_kv("k8s.pod.name", &pod),
                str_kv("k8s.namespace.name", "shop"),
                str_kv("deployment.environment", "production"),
                str_kv("telemetry.sdk.name", "opentelemetry"),
                str_kv("telemetry.sdk.language", lang),
                str_kv("telemetry.sdk.version", sdk),
            ],
            ..Default::default()
        };
        let database = (i % NAMES.len() >= FRONT_ENDS && rng.random_ratio(3, 5)).then(|| {
            let (system, port, _) = pick(DATABASES, rng);
            Database {
                system,
                name: NAMES[i % NAMES.len()].replace('-', "_"),
                peer: format!("{name}-{system}"),
                port,
            }
        });
        let service = Service {
            name,
            resource,
            scope: InstrumentationScope {
                name: scope.to_owned(),
                version: sdk.to_owned(),
                ..Default::default()
            },
            language,
            local_from: ops.len(),
            endpoints: ops.len(),
            ops,
            database,
        };
        (service, total)
    }
}

impl Service {
    /// Fills the operations up to `total` with queries and internal work (at least one).
    fn add_local_work(&mut self, total: usize, rng: &mut StdRng) {
        let wanted = total.saturating_sub(self.ops.len()).max(1);
        let mut seen: HashSet<String> = self.ops.iter().map(|o| o.name.clone()).collect();
        let mut added = 0;
        for attempt in 0.. {
            if added == wanted {
                break;
            }
            let op = match &self.database {
                Some(db) if rng.random_ratio(3, 5) => query(db, rng),
                _ if attempt < 100 => Operation {
                    name: pick(INTERNAL, rng).to_owned(),
                    kind: OpKind::Internal,
                },
                _ => Operation {
                    name: format!("step-{attempt}"),
                    kind: OpKind::Internal,
                },
            };
            if seen.insert(op.name.clone()) {
                self.ops.push(op);
                added += 1;
            }
        }
    }
}

fn query(db: &Database, rng: &mut StdRng) -> Operation {
    let (_, _, operations) = DATABASES
        .iter()
        .find(|d| d.0 == db.system)
        .copied()
        .unwrap_or(DATABASES[0]);
    let operation = pick(operations, rng);
    let table = format!(
        "{}{}",
        db.name,
        pick(&["", "_items", "_events", "_audit"], rng)
    );
    let (name, statement) = match db.system {
        "redis" => (operation.to_owned(), format!("{operation} {table}:?")),
        "mongodb" => (
            format!("{operation} {table}"),
            format!("{{\"{operation}\":\"{table}\",\"filter\":{{\"_id\":\"?\"}}}}"),
        ),
        _ => (
            format!("{operation} {table}"),
            match operation {
                "SELECT" => format!("SELECT * FROM {table} WHERE id = $1"),
                "INSERT" => format!("INSERT INTO {table} VALUES ($1, $2, $3)"),
                "UPDATE" => format!("UPDATE {table} SET status = $2 WHERE id = $1"),
                _ => format!("DELETE FROM {table} WHERE id = $1"),
            },
        ),
    };
    Operation {
        name,
        kind: OpKind::Query {
            operation,
            statement,
        },
    }
}
