<?php
// A legacy invoicing library. It calls tax_for(), which used to live in
// tax.php and is now implemented in Go: this file does not know.

function format_money(int $cents): string {
    return sprintf("%s%d.%02d", $cents < 0 ? "-" : "", intdiv(abs($cents), 100), abs($cents) % 100);
}

function invoice_total(array $items, string $region): array {
    $net = 0;
    foreach ($items as $item) {
        $net += $item['cents'] * $item['qty'];
    }
    $tax = tax_for($net, $region);
    return ['net' => format_money($net), 'tax' => format_money($tax), 'total' => format_money($net + $tax)];
}
