module picosbench

go 1.19
