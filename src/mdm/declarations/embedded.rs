//! Apple's declaration schema files (`schemas/apple/declarative/declarations/<category>/*.yaml`),
//! compiled into the binary so the server reads no files at run time.

/// Lists each declaration file once as `(category folder, file stem)`; a test checks the list
/// against the folders. (`assets/credentials/` describe credential types an asset carries, not
/// declarations, and `declarationbase.yaml` the envelope every declaration shares.)
macro_rules! apple_declarations {
    ($(($category:literal, $stem:literal)),* $(,)?) => {
        /// `(category folder, file stem, YAML text)` for every declaration schema file.
        pub(crate) const FILES: &[(&str, &str, &str)] = &[
            $(($category, $stem, include_str!(concat!(
                "../../../schemas/apple/declarative/declarations/", $category, "/", $stem, ".yaml"
            )))),*
        ];
    };
}

apple_declarations![
    ("activations", "simple"),
    ("assets", "credential.acme"),
    ("assets", "credential.certificate"),
    ("assets", "credential.identity"),
    ("assets", "credential.scep"),
    ("assets", "credential.userpassword"),
    ("assets", "data"),
    ("assets", "useridentity"),
    ("configurations", "account.caldav"),
    ("configurations", "account.carddav"),
    ("configurations", "account.exchange"),
    ("configurations", "account.google"),
    ("configurations", "account.ldap"),
    ("configurations", "account.mail"),
    ("configurations", "account.subscribed-calendar"),
    ("configurations", "app.managed"),
    ("configurations", "diskmanagement.settings"),
    ("configurations", "legacy.interactive"),
    ("configurations", "legacy"),
    ("configurations", "management.status-subscriptions"),
    ("configurations", "management.test"),
    ("configurations", "math.settings"),
    ("configurations", "passcode.settings"),
    ("configurations", "safari.extensions.settings"),
    ("configurations", "screensharing.connection.group"),
    ("configurations", "screensharing.connection"),
    ("configurations", "screensharing.host.settings"),
    ("configurations", "security.certificate"),
    ("configurations", "security.identity"),
    ("configurations", "security.passkey.attestation"),
    ("configurations", "services.background-tasks"),
    ("configurations", "services.configuration-files"),
    ("configurations", "softwareupdate.enforcement.specific"),
    ("configurations", "softwareupdate.settings"),
    ("configurations", "watch.enrollment"),
    ("management", "organization-info"),
    ("management", "properties"),
    ("management", "server-capabilities"),
];
