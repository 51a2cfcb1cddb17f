// Command onevisit is the one binary of the OneVisit exchange.
package main

func main() {}
