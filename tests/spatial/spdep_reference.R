# Reference values for tests/spatial/test_spatial.cpp from R's spdep: Moran's I (randomisation) with
# row-standardised kNN weights and Getis-Ord Gi* (localG on include.self, binary weights).
# Usage: Rscript spdep_reference.R points.csv k out.txt   (points.csv: x,y,v with a header)
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(spdep))
d <- read.csv(args[1])
k <- as.integer(args[2])
nb <- knn2nb(knearneigh(cbind(d$x, d$y), k = k))
mt <- moran.test(d$v, nb2listw(nb, style = "W"), randomisation = TRUE)
g <- as.numeric(localG(d$v, nb2listw(include.self(nb), style = "B")))
out <- c(mt$estimate[["Moran I statistic"]], mt$estimate[["Expectation"]], mt$estimate[["Variance"]],
         mt$statistic[["Moran I statistic standard deviate"]], mt$p.value, g)
writeLines(formatC(out, digits = 17, format = "g"), args[3])
