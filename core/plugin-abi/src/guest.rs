//! The plugin author's side: safe traits, and the generic `extern "C"` functions that
//! [`export_plugin!`](crate::export_plugin) points the descriptor at.
//!
//! The glue functions are generic and defined here, so the `unsafe` they need is compiled
//! under this crate's lints even though they are instantiated in the plugin crate: the plugin
//! crate itself contains no `unsafe` block, and can keep `unsafe_code = "forbid"`.
//! Every glue function runs the author's code inside `catch_unwind`; a panic becomes
//! [`STATUS_PANIC`] with the panic message, never an unwind across `extern "C"` (which would
//! abort the whole gateway).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::{de::DeserializeOwned, Serialize};

use crate::abi::*;
use crate::{ConfigIssue, PluginError, ValidateReport};

/// What processors and exporters share: a type name and a typed config.
///
/// The config is a serde type with `Default` (the values used when the user gives none), read
/// from the component's YAML section (sent as JSON). Use `#[serde(default, deny_unknown_fields)]`
/// as tracegate's own components do: a misspelt key is then an error at `tracegate validate`.
pub trait PluginComponent: Sized + Send + Sync + 'static {
    /// The type name in configs (`processors: { redact: ... }`).
    const TYPE: &'static str;
    type Config: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;

    /// Checks what serde cannot (ranges, regex syntax, ...). Pure: no I/O. Each issue names
    /// the field, relative to the component (`patterns[1]`).
    fn validate(_config: &Self::Config) -> Vec<ConfigIssue> {
        Vec::new()
    }

    /// Builds an instance from a validated config. May do I/O (open files, ...).
    fn new(config: Self::Config) -> Result<Self, PluginError>;
}

/// A processor: gets each batch and returns the batch to pass on (possibly changed, possibly
/// with spans removed). Called concurrently from several threads, on blocking threads.
pub trait PluginProcessor: PluginComponent {
    fn process(&self, request: ExportTraceServiceRequest) -> Result<ExportTraceServiceRequest, PluginError>;
}

/// An exporter: sends each batch somewhere. tracegate's queue, retry and timeout wrap it as
/// they wrap built-in exporters, so `export` just tries once and says whether a failure is
/// worth retrying. Called concurrently (one call per queue consumer), on blocking threads.
pub trait PluginExporter: PluginComponent {
    fn export(&self, request: ExportTraceServiceRequest) -> Result<(), PluginError>;
}

/// The descriptor of a processor type; used by `export_plugin!`.
pub const fn processor_descriptor<P: PluginProcessor>() -> ComponentDescriptor {
    component::<P>(KIND_PROCESSOR, call_processor::<P>)
}

/// The descriptor of an exporter type; used by `export_plugin!`.
pub const fn exporter_descriptor<E: PluginExporter>() -> ComponentDescriptor {
    component::<E>(KIND_EXPORTER, call_exporter::<E>)
}

const fn component<C: PluginComponent>(kind: u32, call: CallFn) -> ComponentDescriptor {
    ComponentDescriptor {
        size: std::mem::size_of::<ComponentDescriptor>() as u32,
        kind,
        type_name: C::TYPE.as_ptr(),
        type_name_len: C::TYPE.len() as u32,
        _reserved: 0,
        validate: Some(validate::<C>),
        create: Some(create::<C>),
        call: Some(call),
        destroy: Some(destroy::<C>),
        free_buffer: Some(free_buffer),
    }
}

/// Hands `bytes` to the host; `free_buffer` takes them back.
fn give(bytes: Vec<u8>) -> RawBuffer {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    RawBuffer { ptr: bytes.as_mut_ptr(), len: bytes.len() as u64, cap: bytes.capacity() as u64 }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    format!("plugin panicked: {text}")
}

/// Runs `f` with panics caught; writes its bytes (result or message) to `out`.
///
/// # Safety
/// `out` must be valid for a write of a `RawBuffer`.
unsafe fn guarded(out: *mut RawBuffer, f: impl FnOnce() -> Result<Vec<u8>, (i32, String)>) -> i32 {
    let (status, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(bytes)) => (STATUS_OK, bytes),
        Ok(Err((status, message))) => (status, message.into_bytes()),
        Err(payload) => (STATUS_PANIC, panic_message(payload.as_ref()).into_bytes()),
    };
    if !out.is_null() {
        // SAFETY: the caller guarantees `out` is valid for writes; checked non-null above.
        unsafe { out.write(give(bytes)) };
    }
    status
}

/// # Safety
/// `ptr` must be valid for reads of `len` bytes (or null with `len` 0) for the whole call.
unsafe fn input<'a>(ptr: *const u8, len: u64) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees `ptr` points at `len` readable bytes that outlive the call.
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

fn parse_config<C: PluginComponent>(json: &[u8]) -> Result<C::Config, ConfigIssue> {
    let json: &[u8] = if json.is_empty() || json == b"null" { b"{}" } else { json };
    let mut de = serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path.replace('.', "::") };
        ConfigIssue::new(path, e.into_inner().to_string())
    })
}

fn error_code(e: PluginError) -> (i32, String) {
    match e {
        PluginError::Retryable(m) => (STATUS_RETRYABLE, m),
        PluginError::Permanent(m) => (STATUS_PERMANENT, m),
    }
}

unsafe extern "C" fn validate<C: PluginComponent>(config: *const u8, len: u64, out: *mut RawBuffer) -> i32 {
    // SAFETY: the host passes a buffer valid for the call and a writable `out`.
    let config = unsafe { input(config, len) };
    let run = || {
        let report = match parse_config::<C>(config) {
            Err(issue) => ValidateReport { effective: serde_json::Value::Null, problems: vec![issue] },
            Ok(cfg) => ValidateReport {
                problems: C::validate(&cfg),
                effective: serde_json::to_value(&cfg).unwrap_or(serde_json::Value::Null),
            },
        };
        serde_json::to_vec(&report).map_err(|e| (STATUS_PERMANENT, format!("cannot encode the report: {e}")))
    };
    // SAFETY: see above.
    unsafe { guarded(out, run) }
}

unsafe extern "C" fn create<C: PluginComponent>(
    config: *const u8,
    len: u64,
    instance: *mut *mut c_void,
    error: *mut RawBuffer,
) -> i32 {
    // SAFETY: the host passes a buffer valid for the call.
    let config = unsafe { input(config, len) };
    let mut built: *mut c_void = std::ptr::null_mut();
    let run = || {
        let cfg = parse_config::<C>(config).map_err(|i| (STATUS_PERMANENT, i.to_string()))?;
        let component = C::new(cfg).map_err(error_code)?;
        built = Box::into_raw(Box::new(component)).cast();
        Ok(Vec::new())
    };
    let mut message = RawBuffer::empty();
    // SAFETY: `message` is a local, valid for the write.
    let status = unsafe { guarded(&mut message, run) };
    if status == STATUS_OK && !instance.is_null() {
        // SAFETY: `message` came from `give` just above; the host passes a writable
        // `instance`, checked non-null.
        unsafe {
            free_buffer(message);
            instance.write(built);
        }
    } else if !error.is_null() {
        // SAFETY: the host passes a writable `error`; checked non-null above.
        unsafe { error.write(message) };
    } else {
        // SAFETY: `message` came from `give` just above.
        unsafe { free_buffer(message) };
    }
    status
}

/// # Safety
/// `instance` must come from `create::<C>` and not be destroyed yet.
unsafe fn instance<'a, C>(instance: *mut c_void) -> Option<&'a C> {
    // SAFETY: per the contract, a live `Box<C>` made by `create::<C>`; only shared references
    // are made, and `C: Sync` allows concurrent calls.
    unsafe { instance.cast::<C>().as_ref() }
}

fn decode(data: &[u8]) -> Result<ExportTraceServiceRequest, (i32, String)> {
    ExportTraceServiceRequest::decode(data)
        .map_err(|e| (STATUS_PERMANENT, format!("the plugin cannot decode the batch tracegate sent: {e}")))
}

unsafe extern "C" fn call_processor<P: PluginProcessor>(
    handle: *mut c_void,
    data: *const u8,
    len: u64,
    out: *mut RawBuffer,
) -> i32 {
    // SAFETY: the host passes a live instance of this component and a buffer valid for the call.
    let (this, data) = unsafe { (instance::<P>(handle), input(data, len)) };
    let run = || {
        let this = this.ok_or((STATUS_PERMANENT, "null instance".to_string()))?;
        let result = this.process(decode(data)?).map_err(error_code)?;
        Ok(result.encode_to_vec())
    };
    // SAFETY: the host passes a writable `out`.
    unsafe { guarded(out, run) }
}

unsafe extern "C" fn call_exporter<E: PluginExporter>(
    handle: *mut c_void,
    data: *const u8,
    len: u64,
    out: *mut RawBuffer,
) -> i32 {
    // SAFETY: as in `call_processor`.
    let (this, data) = unsafe { (instance::<E>(handle), input(data, len)) };
    let run = || {
        let this = this.ok_or((STATUS_PERMANENT, "null instance".to_string()))?;
        this.export(decode(data)?).map_err(error_code)?;
        Ok(Vec::new())
    };
    // SAFETY: the host passes a writable `out`.
    unsafe { guarded(out, run) }
}

unsafe extern "C" fn destroy<C: PluginComponent>(handle: *mut c_void) {
    if handle.is_null() {
        return;
    }
    // SAFETY: `handle` came from `Box::into_raw` in `create::<C>`, and the host destroys it
    // once, after its last call.
    let boxed = unsafe { Box::from_raw(handle.cast::<C>()) };
    // A panicking Drop must not unwind into the host; there is no one to report it to but
    // the plugin's own panic hook, which has already printed it.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// # Safety
/// `buffer` must come from this plugin (`give`) and be freed once.
unsafe extern "C" fn free_buffer(buffer: RawBuffer) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: every non-null buffer this plugin hands out comes from `give`, i.e. a leaked
    // `Vec<u8>` with exactly this pointer, length and capacity, and the host frees it once.
    drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len as usize, buffer.cap as usize) });
}

/// Exports the ABI symbols for the listed components, so the crate built as a `cdylib` is a
/// tracegate plugin:
///
/// ```ignore
/// tracegate_plugin_abi::export_plugin!(processor MyProcessor, exporter MyExporter);
/// ```
///
/// It generates `tracegate_plugin_abi_version` and `tracegate_plugin_descriptor` (both
/// `#[no_mangle]`); everything else is generic code of this crate, so the plugin crate has no
/// `unsafe` of its own. Invoke it once per library. A crate that should also link statically
/// next to other plugins puts it behind a feature (`#[cfg(feature = "dynamic")]`), since two
/// copies of the symbols in one binary would clash at link time.
#[macro_export]
macro_rules! export_plugin {
    ($($kind:ident $ty:ty),+ $(,)?) => {
        /// The tracegate plugin ABI version this library speaks (the handshake).
        #[no_mangle]
        pub extern "C" fn tracegate_plugin_abi_version() -> u32 {
            $crate::abi::ABI_VERSION
        }

        /// This library's components (read only after the handshake).
        #[no_mangle]
        pub extern "C" fn tracegate_plugin_descriptor() -> *const $crate::abi::PluginDescriptor {
            static COMPONENTS: $crate::abi::ComponentList<{ [$(stringify!($ty)),+].len() }> =
                $crate::abi::ComponentList([$(&$crate::__component_descriptor!($kind $ty)),+]);
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor::new(
                concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")),
                &COMPONENTS,
            );
            &DESCRIPTOR
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __component_descriptor {
    (processor $ty:ty) => {
        $crate::guest::processor_descriptor::<$ty>()
    };
    (exporter $ty:ty) => {
        $crate::guest::exporter_descriptor::<$ty>()
    };
}
