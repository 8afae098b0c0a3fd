//! `[[alerts.channels]]` as configuration: read with its `kind`, checked at start naming the key;
//! the routing key's variable is read only by the instance that notifies.

use crate::support::*;

#[test]
fn alert_channels_are_configuration_checked_by_key() {
    let (_tmp, data) = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("pathwatch.toml");
    let check = |channels: &str| {
        std::fs::write(&config, channels).unwrap();
        let out = run(pathwatch(&data).arg("--config").arg(&config).args(["config", "check"]));
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let good = "[[alerts.channels]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/X\"\n\n\
                [[alerts.channels]]\nkind = \"pagerduty\"\nrouting_key_env = \"PD_ROUTING_KEY_NOT_SET_HERE\"\n\n\
                [[alerts.channels]]\nkind = \"alertmanager\"\nurl = \"http://alertmanager:9093\"\n";
    let (code, stderr) = check(good);
    assert_eq!(code, Some(0), "a host that does not notify needs no routing key: {stderr}");
    for (channels, key) in [
        ("[[alerts.channels]]\nkind = \"teams\"\nurl = \"webhook.office.com/x\"\n", "alerts.channels[0].url"),
        (
            "[[alerts.channels]]\nkind = \"pagerduty\"\nrouting_key_env = \"PATHWATCH_PD\"\n",
            "alerts.channels[0].routing_key_env",
        ),
        ("[[alerts.channels]]\nkind = \"pager\"\nurl = \"https://x\"\n", "alerts.channels"),
        ("[[alerts.channels]]\nkind = \"slack\"\nurl = \"https://x\"\nchannel = \"#oncall\"\n", "channel"),
    ] {
        let (code, stderr) = check(channels);
        assert_eq!(code, Some(2), "{channels}: {stderr}");
        assert!(stderr.contains(key), "{channels}: {stderr}");
    }
}
