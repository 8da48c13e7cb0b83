#include <opencv2/core/utility.hpp>
#include "threads.h"

void veil_cv_set_threads(int n) { cv::setNumThreads(n); }
int veil_cv_get_threads(void) { return cv::getNumThreads(); }
