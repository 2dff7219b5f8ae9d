use axum::http::{HeaderMap, HeaderValue};

use super::*;

fn config(tenants: &[&str]) -> TenancyConfig {
    TenancyConfig { enabled: true, header: "x-tenant".into(), tenants: tenants.iter().map(|t| t.to_string()).collect() }
}

fn headers(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append("x-tenant", HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn off_unless_enabled() {
    assert!(Tenancy::new(None).is_none());
    assert!(Tenancy::new(Some(&TenancyConfig::default())).is_none());
    assert!(TenancyConfig::default().validate().is_empty());
}

#[test]
fn a_request_is_its_header_s_tenant_when_listed_and_refused_otherwise() {
    let t = Tenancy::new(Some(&config(&["acme", "globex"]))).unwrap();
    assert_eq!(&*t.tenant_of(&headers(&["acme"]), None).unwrap(), "acme");
    assert_eq!(t.tenant_of(&headers(&[]), None), Err(TenancyError::Missing));
    assert_eq!(t.tenant_of(&headers(&[""]), None), Err(TenancyError::Missing));
    assert_eq!(t.tenant_of(&headers(&["initech"]), None), Err(TenancyError::Unknown));
    assert_eq!(t.tenant_of(&headers(&["acme", "globex"]), None), Err(TenancyError::Extra));
    assert_eq!(TenancyError::Missing.to_string(), "missing tenant header");
    assert_eq!(TenancyError::Missing.grpc_code() as u32, 16);
    assert_eq!(TenancyError::Unknown.grpc_code() as u32, 7);
}

#[test]
fn the_credentials_tenant_decides_and_a_header_may_not_contradict_it() {
    let t = Tenancy::new(Some(&config(&["acme", "globex"]))).unwrap();
    let principal = |tenant: Option<&str>| Principal { subject: "u".into(), tenant: tenant.map(String::from) };
    assert_eq!(&*t.tenant_of(&headers(&[]), Some(&principal(Some("acme")))).unwrap(), "acme");
    assert_eq!(&*t.tenant_of(&headers(&["acme"]), Some(&principal(Some("acme")))).unwrap(), "acme");
    assert_eq!(t.tenant_of(&headers(&["globex"]), Some(&principal(Some("acme")))), Err(TenancyError::Mismatch));
    assert_eq!(t.tenant_of(&headers(&[]), Some(&principal(Some("initech")))), Err(TenancyError::Unknown));
    assert_eq!(&*t.tenant_of(&headers(&["globex"]), Some(&principal(None))).unwrap(), "globex");
}

#[test]
fn validation_wants_a_list_of_names_fit_for_directories() {
    let problems = |c: &TenancyConfig| c.validate().into_iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(problems(&config(&[])).len(), 1, "{:?}", problems(&config(&[])));
    let bad = problems(&config(&["ok", "../etc", "a b", "", "ok"]));
    assert_eq!(bad.len(), 4, "{bad:?}");
    assert!(bad.iter().any(|p| p.contains("tenants::1")), "{bad:?}");
    assert!(bad.iter().any(|p| p.contains("listed twice")), "{bad:?}");
    let header = TenancyConfig { header: "x tenant".into(), ..config(&["a"]) };
    assert_eq!(problems(&header).len(), 1);
    assert!(is_valid_tenant_name("team-1.prod_eu"));
    assert!(!is_valid_tenant_name(".."));
    assert!(!is_valid_tenant_name(&"a".repeat(65)));
}
