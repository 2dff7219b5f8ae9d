//! Test fixture: a library that answers the version handshake with a version this tracegate
//! does not speak, as a plugin built against a future (or past) tracegate-plugin-abi would.
//! The host must refuse it naming both versions, without looking at anything else.

#[no_mangle]
pub extern "C" fn tracegate_plugin_abi_version() -> u32 {
    tracegate_plugin_abi::ABI_VERSION + 1
}
