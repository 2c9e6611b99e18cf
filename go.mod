module github.com/sandbond/sandbond

go 1.25.0
