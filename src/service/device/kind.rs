//! The metric labels of a device request: its MessageType (check-in) or `Report` (command
//! channel) with its Status; `unknown` until the body has been parsed.

use crate::domain::enrollment::{DeviceInput as D, Input, ReportStatus as S};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageKind {
    pub message_type: &'static str,
    pub status: &'static str,
}

impl Default for MessageKind {
    fn default() -> Self {
        Self {
            message_type: "unknown",
            status: "",
        }
    }
}

impl MessageKind {
    pub fn of(input: &Input) -> Self {
        let Input::Device { input, .. } = input else {
            return Self::default();
        };
        let (message_type, status) = match input.as_ref() {
            D::Authenticate(_) => ("Authenticate", ""),
            D::TokenUpdate(_) => ("TokenUpdate", ""),
            D::CheckOut(_) => ("CheckOut", ""),
            D::UserAuthenticate(_) => ("UserAuthenticate", ""),
            D::SetBootstrapToken(_) => ("SetBootstrapToken", ""),
            D::GetBootstrapToken { .. } => ("GetBootstrapToken", ""),
            D::GetToken { .. } => ("GetToken", ""),
            D::DeclarativeManagement { .. } => ("DeclarativeManagement", ""),
            D::Report { status, .. } => (
                "Report",
                match status {
                    S::Idle => "Idle",
                    S::Acknowledged => "Acknowledged",
                    S::Error => "Error",
                    S::CommandFormatError => "CommandFormatError",
                    S::NotNow => "NotNow",
                },
            ),
        };
        Self { message_type, status }
    }
}
