//! The name this browser goes by for an app until the user renames it: the browser's brand
//! and major version and the OS, "Chrome 156 on Linux" (PROTOCOL §10). Built from what
//! Chrome reports (`navigator.userAgentData.brands`, else the user-agent string, and
//! `chrome.runtime.getPlatformInfo().os`); whatever those hold, the result passes the
//! device-name rules of the consent-name policy (ASCII letters, digits and spaces only).

/// One entry of `navigator.userAgentData.brands`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub brand: String,
    pub version: String,
}

/// When nothing better is known.
pub const FALLBACK: &str = "Browser";

/// Longest brand kept: the known ones are short, and the name stays under the policy's 64.
const MAX_BRAND_CHARS: usize = 24;

/// The default name from the brand list, the user-agent string (when the list says
/// nothing usable) and the OS as `getPlatformInfo` names it.
pub fn default_device_name(brands: &[Brand], user_agent: &str, os: &str) -> String {
    let browser = from_brands(brands).or_else(|| from_user_agent(user_agent));
    let os = os_name(os);
    match (browser, os) {
        (Some(b), Some(os)) => format!("{b} on {os}"),
        (Some(b), None) => b,
        (None, Some(os)) => format!("{FALLBACK} on {os}"),
        (None, None) => FALLBACK.to_owned(),
    }
}

/// The most specific brand: a vendor's ("Google Chrome", "Microsoft Edge") over the
/// engine's ("Chromium"); GREASE entries ("Not?A_Brand") carry punctuation and are skipped.
fn from_brands(brands: &[Brand]) -> Option<String> {
    let usable = |b: &&Brand| {
        !b.brand.is_empty()
            && b.brand.trim() == b.brand
            && b.brand.chars().count() <= MAX_BRAND_CHARS
            && b.brand.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
            && !b.brand.contains("Not")
    };
    let mut candidates = brands.iter().filter(usable);
    let first = candidates.clone().next()?;
    let pick = candidates.find(|b| b.brand != "Chromium").unwrap_or(first);
    Some(with_version(short_brand(&pick.brand), &pick.version))
}

/// "Google Chrome" → "Chrome", "Microsoft Edge" → "Edge"; others as they are.
fn short_brand(brand: &str) -> &str {
    brand.strip_prefix("Google ").or_else(|| brand.strip_prefix("Microsoft ")).unwrap_or(brand)
}

/// The major version, when it is one: "156" or "156.0.1.2" → "156".
fn with_version(brand: &str, version: &str) -> String {
    let major: String = version.chars().take_while(char::is_ascii_digit).take(5).collect();
    if major.is_empty() {
        brand.to_owned()
    } else {
        format!("{brand} {major}")
    }
}

/// From the user-agent string: the vendor tokens Chromium browsers add, else `Chrome/`.
fn from_user_agent(ua: &str) -> Option<String> {
    [("Edg/", "Edge"), ("OPR/", "Opera"), ("Chrome/", "Chrome")].iter().find_map(|(token, name)| {
        let at = ua.find(token)? + token.len();
        Some(with_version(name, &ua[at..]))
    })
}

/// `chrome.runtime.PlatformOs` as people say it.
fn os_name(os: &str) -> Option<&'static str> {
    Some(match os {
        "mac" => "macOS",
        "win" => "Windows",
        "linux" => "Linux",
        "cros" => "ChromeOS",
        "android" => "Android",
        "openbsd" => "OpenBSD",
        "fuchsia" => "Fuchsia",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use latch_wire::name_policy::check_device_name;
    use proptest::prelude::*;

    fn brands(list: &[(&str, &str)]) -> Vec<Brand> {
        list.iter().map(|(b, v)| Brand { brand: (*b).into(), version: (*v).into() }).collect()
    }

    #[test]
    fn names_the_browser_people_know() {
        let chrome = brands(&[("Not)A;Brand", "8"), ("Chromium", "156"), ("Google Chrome", "156")]);
        assert_eq!(default_device_name(&chrome, "", "linux"), "Chrome 156 on Linux");
        let edge = brands(&[("Microsoft Edge", "140"), ("Not=A?Brand", "24"), ("Chromium", "140")]);
        assert_eq!(default_device_name(&edge, "", "win"), "Edge 140 on Windows");
        let chromium = brands(&[("Chromium", "130"), ("Not?A_Brand", "99")]);
        assert_eq!(default_device_name(&chromium, "", "linux"), "Chromium 130 on Linux");
        assert_eq!(default_device_name(&brands(&[("Brave", "1.2")]), "", "mac"), "Brave 1 on macOS");
    }

    #[test]
    fn falls_back_to_the_user_agent_then_to_browser() {
        let ua =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.91 Safari/537.36";
        assert_eq!(default_device_name(&[], ua, "linux"), "Chrome 130 on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.3485.54";
        assert_eq!(default_device_name(&[], edge, "win"), "Edge 140 on Windows");
        // Only GREASE in the list: the user agent decides.
        assert_eq!(default_device_name(&brands(&[("Not A(Brand", "99")]), ua, "cros"), "Chrome 130 on ChromeOS");
        assert_eq!(default_device_name(&[], "curl/8", "linux"), "Browser on Linux");
        assert_eq!(default_device_name(&[], "", "plan9"), "Browser");
    }

    proptest! {
        /// Whatever Chrome reports, the name is one the relay keeps as it is.
        #[test]
        fn any_report_gives_a_name_the_policy_accepts(
            list in proptest::collection::vec(("[A-Za-z0-9 ]{0,30}|.{0,30}", "[0-9.]{0,12}|.{0,12}"), 0..4),
            ua in "[A-Za-z/ ]{0,20}(Chrome/|Edg/|OPR/)?[0-9.]{0,8}.{0,20}",
            os in prop_oneof![Just("linux".to_owned()), Just("win".to_owned()), ".{0,8}"],
        ) {
            let list: Vec<Brand> = list.into_iter().map(|(brand, version)| Brand { brand, version }).collect();
            let name = default_device_name(&list, &ua, &os);
            let checked = check_device_name(&name);
            prop_assert_eq!(checked, Ok(name));
        }
    }
}
