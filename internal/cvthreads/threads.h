#ifdef __cplusplus
extern "C" {
#endif
void veil_cv_set_threads(int n);
int veil_cv_get_threads(void);
#ifdef __cplusplus
}
#endif
