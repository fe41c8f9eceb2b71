//! What a simulated iPad answers to DeviceInformation queries: one table for the generated logs
//! here and for `annal sim`'s devices, so both look like the same kind of device.

use plist::Value;

/// The facts that differ between simulated devices (or between the two simulators).
#[derive(Debug, Clone, Copy)]
pub struct IpadFacts<'a> {
    pub device_name: &'a str,
    pub serial: &'a str,
    pub udid: &'a str,
    pub os_version: &'a str,
    pub build_version: &'a str,
}

/// The answer to one DeviceInformation query, or None for a query the simulated iPad does not
/// know (a real device leaves such a key out of QueryResponses).
pub fn device_information_answer(query: &str, f: &IpadFacts) -> Option<Value> {
    let s = |v: &str| Value::String(v.to_owned());
    Some(match query {
        "DeviceName" => s(f.device_name),
        "OSVersion" => s(f.os_version),
        "BuildVersion" => s(f.build_version),
        "ModelName" => s("iPad"),
        "Model" => s("MK2K3LL/A"),
        "ProductName" => s("iPad13,18"),
        "SerialNumber" => s(f.serial),
        "UDID" => s(f.udid),
        "DeviceCapacity" => Value::Real(119.2),
        "AvailableDeviceCapacity" => Value::Real(87.5),
        "BatteryLevel" => Value::Real(0.83),
        "IsSupervised" => Value::Boolean(true),
        "WiFiMAC" => s("f0:18:98:12:34:56"),
        _ => return None,
    })
}
