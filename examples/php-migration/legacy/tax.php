<?php
// The old implementation, kept to check the Go one against it.
function tax_for(int $cents, string $region): int {
    $rates = ['de' => 19, 'fr' => 20, 'us-ny' => 8];
    if (!isset($rates[$region])) {
        throw new InvalidArgumentException("unknown region $region");
    }
    return intdiv($cents * $rates[$region] + 50, 100);
}
