module github.com/onevisit/onevisit

go 1.26.8
