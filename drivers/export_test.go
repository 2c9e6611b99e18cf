package drivers

// PHPQuote lets the external tests quote paths for PHP as the driver does.
var PHPQuote = phpQuote
