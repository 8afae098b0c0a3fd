//! The synthetic population's names, addresses and NHS numbers (999 range): common enough that a
//! shared surname is as likely as among real patients, never a real person's.

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Eighty surnames, so a shared surname is about as common as the commonest British one.
pub(super) const SURNAMES: [&str; 80] = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Khan",
    "Lewis",
    "Harris",
    "Martin",
    "Cooper",
    "King",
    "Lee",
    "Baker",
    "Allen",
    "Hill",
    "Begum",
    "Ahmed",
    "Moore",
    "Scott",
    "Young",
    "Mitchell",
    "Ward",
    "Turner",
    "Okafor",
    "Hughes",
    "Edwards",
    "Hussain",
    "Morris",
    "Campbell",
    "Bell",
    "Anderson",
    "Murphy",
    "Kelly",
    "Parker",
    "Price",
    "Bennett",
    "Griffiths",
    "Cook",
    "Shah",
    "Richardson",
    "Carter",
    "Phillips",
    "Watson",
    "Morgan",
    "Adams",
    "Harrison",
    "Marshall",
    "Ellis",
    "Chapman",
    "Mills",
    "Graham",
    "Kaur",
    "Singh",
    "Nowak",
    "Ali",
    "Mensah",
    "Osei",
    "Chen",
    "Wong",
    "Fraser",
    "Reid",
    "Dixon",
    "Lloyd",
    "Owen",
];
const STREETS: [&str; 25] = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Park Avenue",
    "Mill Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Kings Road",
    "Queens Road",
    "New Road",
    "School Lane",
    "The Crescent",
    "North Street",
    "South Street",
    "West Street",
    "East Street",
    "London Road",
    "York Road",
    "Albert Road",
    "Grange Road",
    "Chapel Street",
    "Main Street",
    "Bridge Street",
    "Springfield Road",
];
const TOWNS: [&str; 8] =
    ["Testtown", "Sampleford", "Mockley", "Dummyham", "Fixton", "Stubbury", "Trialby", "Probewick"];

pub(super) fn nhs_number(rng: &mut ChaCha8Rng) -> String {
    loop {
        let mut digits = vec![9, 9, 9];
        digits.extend((0..6).map(|_| rng.random_range(0..10u32)));
        if let Some(check) = domain::nhs_number::check_digit(&digits) {
            digits.push(check);
            return digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
        }
    }
}

pub(super) fn address(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}, {}",
        rng.random_range(1..250u32),
        STREETS.choose(rng).unwrap_or(&"High Street"),
        TOWNS.choose(rng).unwrap_or(&"Testtown")
    )
}
