//! The raw C ABI: every type that crosses the boundary between tracegate and a plugin.
//!
//! Only fixed-width integers, raw pointers and nullable function pointers appear here, all
//! `#[repr(C)]`, so a plugin built by another rustc (or written in C) agrees on the layout.
//! Rust types with unstable layouts (`Vec`, `String`, `Box<dyn Trait>`, enums with data) never
//! cross; config goes as JSON bytes and spans as OTLP `ExportTraceServiceRequest` protobuf bytes.
//!
//! Ownership: whoever allocates frees. Bytes the host passes in are borrowed for the duration
//! of the call. Bytes the plugin hands out come in a [`RawBuffer`] the host returns to the
//! plugin's `free_buffer` (the two sides may use different allocators).

use std::ffi::c_void;

/// The ABI version this crate speaks. A plugin and the host must agree exactly; see
/// docs/plugins.md for what changes bump it (appending fields to a descriptor does not).
pub const ABI_VERSION: u32 = 1;

/// `extern "C" fn() -> u32`: the first symbol the host looks up and calls, before anything
/// else in the library is touched.
pub const VERSION_SYMBOL: &str = "tracegate_plugin_abi_version";
/// `extern "C" fn() -> *const PluginDescriptor`, looked up only once the versions match.
pub const DESCRIPTOR_SYMBOL: &str = "tracegate_plugin_descriptor";

/// [`ComponentDescriptor::kind`] of a processor.
pub const KIND_PROCESSOR: u32 = 1;
/// [`ComponentDescriptor::kind`] of an exporter.
pub const KIND_EXPORTER: u32 = 2;

/// Call succeeded.
pub const STATUS_OK: i32 = 0;
/// Failed; the same input may succeed later (the queue retries it). Buffer: UTF-8 message.
pub const STATUS_RETRYABLE: i32 = 1;
/// Failed for good; never retried. Buffer: UTF-8 message.
pub const STATUS_PERMANENT: i32 = 2;
/// The plugin panicked; caught at the boundary. Buffer: the panic message. Treated as
/// permanent: the same batch would most likely panic again.
pub const STATUS_PANIC: i32 = 3;

/// Bytes allocated by the plugin, handed to the host, and given back to the plugin's
/// `free_buffer` exactly once. `ptr` may be null when `len` is 0.
#[repr(C)]
#[derive(Debug)]
pub struct RawBuffer {
    pub ptr: *mut u8,
    pub len: u64,
    /// The allocation's capacity, so a Rust plugin can rebuild its `Vec` to free it.
    pub cap: u64,
}

impl RawBuffer {
    pub const fn empty() -> Self {
        Self { ptr: std::ptr::null_mut(), len: 0, cap: 0 }
    }
}

/// `validate(config_json, len, out)`: checks a config without creating anything. Always
/// fills `out` with a JSON [`crate::ValidateReport`] on `STATUS_OK`, a message otherwise.
pub type ValidateFn = unsafe extern "C" fn(config: *const u8, len: u64, out: *mut RawBuffer) -> i32;
/// `create(config_json, len, instance, error)`: on `STATUS_OK` `*instance` is the new
/// instance's handle; otherwise `*error` holds the message.
pub type CreateFn =
    unsafe extern "C" fn(config: *const u8, len: u64, instance: *mut *mut c_void, error: *mut RawBuffer) -> i32;
/// `call(instance, request_protobuf, len, out)`: a processor's `process` or an exporter's
/// `export`. On `STATUS_OK` a processor fills `out` with the resulting request (protobuf); an
/// exporter leaves it empty. On failure `out` holds the message. May be called concurrently
/// on one instance from several threads.
pub type CallFn = unsafe extern "C" fn(instance: *mut c_void, data: *const u8, len: u64, out: *mut RawBuffer) -> i32;
/// `destroy(instance)`: called once, after the last `call`.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// `free_buffer(buffer)`: returns a buffer the plugin allocated.
pub type FreeBufferFn = unsafe extern "C" fn(buffer: RawBuffer);

/// What `tracegate_plugin_descriptor` returns: static data, valid for the life of the library.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    /// `size_of::<PluginDescriptor>()` as the plugin was built: fields appended in later
    /// versions are read only when `size` covers them.
    pub size: u32,
    /// The version again, so a descriptor read through a stale pointer cannot pass as valid.
    pub abi_version: u32,
    /// Free text for logs and `tracegate components`, e.g. "my-plugin 0.3.1" (UTF-8).
    pub name: *const u8,
    pub name_len: u32,
    pub component_count: u32,
    /// `component_count` pointers, each to a [`ComponentDescriptor`]. Pointers rather than an
    /// array so each entry carries its own `size` and can grow on its own.
    pub components: *const *const ComponentDescriptor,
}

/// One component a plugin provides.
#[repr(C)]
#[derive(Debug)]
pub struct ComponentDescriptor {
    /// `size_of::<ComponentDescriptor>()` as the plugin was built.
    pub size: u32,
    /// [`KIND_PROCESSOR`] or [`KIND_EXPORTER`].
    pub kind: u32,
    /// The config type name, e.g. "redact" (UTF-8, no NUL needed).
    pub type_name: *const u8,
    pub type_name_len: u32,
    pub _reserved: u32,
    pub validate: Option<ValidateFn>,
    pub create: Option<CreateFn>,
    pub call: Option<CallFn>,
    pub destroy: Option<DestroyFn>,
    pub free_buffer: Option<FreeBufferFn>,
}

// SAFETY: descriptors are immutable static data (pointers to string literals, other static
// descriptors and functions); sharing them between threads cannot race.
unsafe impl Sync for PluginDescriptor {}
// SAFETY: as above.
unsafe impl Sync for ComponentDescriptor {}

/// Helper for `export_plugin!`'s statics: an array of descriptor pointers that is `Sync`.
#[doc(hidden)]
#[repr(transparent)]
pub struct ComponentList<const N: usize>(pub [&'static ComponentDescriptor; N]);

impl<const N: usize> ComponentList<N> {
    pub const fn as_ptr(&'static self) -> *const *const ComponentDescriptor {
        // `&T` and `*const T` have the same layout, so an array of references is an array of
        // pointers.
        self.0.as_ptr().cast()
    }
}

impl PluginDescriptor {
    /// Used by `export_plugin!`.
    pub const fn new<const N: usize>(name: &'static str, components: &'static ComponentList<N>) -> Self {
        Self {
            size: std::mem::size_of::<Self>() as u32,
            abi_version: ABI_VERSION,
            name: name.as_ptr(),
            name_len: name.len() as u32,
            component_count: N as u32,
            components: components.as_ptr(),
        }
    }
}
